// Runs the script of the GraphiQL page (read from stdin) with just enough of a browser around it to render,
// then types a password into the query and variables editors and a token into the headers editor, and
// prints what the page did to the address bar. Used by tests/test_transport.py.
const script = require("fs").readFileSync(0, "utf8");
const writes = [];
const location = { href: "http://testserver/graphql?q=%7B%20viewer%20%7D", search: "?q=%7B%20viewer%20%7D", hash: "" };
const history = {
  replaceState: (...args) => writes.push(["replaceState", args]),
  pushState: (...args) => writes.push(["pushState", args]),
};
const GraphiQL = function () {};
GraphiQL.createFetcher = () => () => {};
let props = null;
const React = {
  useState: (value) => [value, () => {}],
  // Render function components; keep the properties given to GraphiQL itself.
  createElement: (type, given) => (type === GraphiQL ? (props = given) : type(given)),
};
const sessionStorage = { kind: "sessionStorage" };
const browser = {
  window: { location, sessionStorage, localStorage: { kind: "localStorage" } },
  location,
  history,
  React,
  ReactDOM: { createRoot: () => ({ render: () => {} }) },
  GraphiQL,
  GraphiQLPluginExplorer: { explorerPlugin: () => ({}) },
  Cookies: { get: () => undefined },
  document: { getElementById: () => ({}) },
  URL,
};
new Function(...Object.keys(browser), script)(...Object.values(browser));
const initialQuery = props.query;
props.onEditQuery('mutation { login(email: "a@example.com", password: "s3cret-pass") { __typename } }');
props.onEditVariables('{"p": "s3cret-pass"}');
props.onEditHeaders('{"Authorization": "Bearer s3cret-token"}');
const storage = props.storage === sessionStorage ? "sessionStorage" : String(props.storage);
console.log(JSON.stringify({ writes, href: location.href, initialQuery, storage, persistHeaders: props.shouldPersistHeaders }));

// GraphQL over fetch: loads an operation document from /static/operations and posts it to /graphql.
//
// The session is the HttpOnly cookie the login mutations set, sent with `credentials: "same-origin"`;
// no token is ever kept in storage or put in a URL. Tickets, challenges and invitation tokens live
// only in the memory of the page that uses them.

const documents = new Map();


/** A failure outside the result unions: no answer, or a GraphQL error. `kind` says what to tell the user. */
export class ServiceError extends Error {
  constructor(kind, code = null) {
    super(code ?? kind);
    this.name = "ServiceError";
    // "network": no answer; "retry": the service says trying again may work (extensions.retryable);
    // "mail": an email could not be delivered, and retrying will not help; "denied": not allowed;
    // "unexpected": anything else.
    this.kind = kind;
    this.code = code;
  }
}

function operationDocument(name) {
  if (!documents.has(name)) {
    const loading = fetch(`/static/operations/${name}.graphql`, { credentials: "same-origin" }).then((response) => {
      if (!response.ok) throw new ServiceError("network");
      return response.text();
    });
    // A failed load is not remembered, so the next try fetches again.
    loading.catch(() => documents.delete(name));
    documents.set(name, loading);
  }
  return documents.get(name);
}

function classify(error) {
  const { code = null, retryable = false } = error.extensions ?? {};
  if (retryable) return new ServiceError("retry", code);
  if (code === "MAIL_NOT_DELIVERED") return new ServiceError("mail", code);
  if (code === "PERMISSION_DENIED") return new ServiceError("denied", code);
  return new ServiceError("unexpected", code);
}

/** Run the operation schema/operations/<name>.graphql with `variables`; resolves to its `data`. */
export async function run(name, variables = {}) {
  let body;
  try {
    const query = await operationDocument(name);
    const response = await fetch("/graphql", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ query, variables, operationName: name }),
    });
    body = await response.json();
  } catch (error) {
    throw error instanceof ServiceError ? error : new ServiceError("network");
  }
  if (Array.isArray(body.errors) && body.errors.length > 0) throw classify(body.errors[0]);
  if (!body.data) throw new ServiceError("unexpected");
  return body.data;
}

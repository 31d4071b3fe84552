// Runs graphql-http's serverAudits (the GraphQL-over-HTTP audit suite) against the URL given as the first
// argument and prints one JSON line: every audit's id, name ("MUST ...", "SHOULD ...", "MAY ..."), status
// ("ok", "warn", "error") and reason. tests/test_graphql_over_http.py installs the package (npm ci) and reads
// the line; the assertions are Python's.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
const results = [];
for (const audit of serverAudits({ url, fetchFn: fetch })) {
  const result = await audit.fn();
  results.push({ id: audit.id, name: audit.name, status: result.status, reason: result.reason ?? null });
}
process.stdout.write(JSON.stringify(results) + '\n');

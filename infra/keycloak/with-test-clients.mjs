// Prints the realm with the test-only clients added (password grant; `npm test` imports it, never
// `npm start` or the chart): node with-test-clients.mjs <realm.json> <test-clients.json>
import { readFileSync } from "node:fs";
import process from "node:process";

const [realmFile, clientsFile] = process.argv.slice(2);
const realm = JSON.parse(readFileSync(realmFile, "utf8"));
const testClients = JSON.parse(readFileSync(clientsFile, "utf8"));
const taken = new Set(realm.clients.map((client) => client.clientId));
realm.clients.push(...testClients.filter((client) => !taken.has(client.clientId)));
process.stdout.write(`${JSON.stringify(realm, null, 2)}\n`);

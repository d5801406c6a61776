import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runCliMain } from "../cli-main";
import { initCredentials, NatsCredentialsError, publicKeysEnv } from "./credentials";
import { NATS_PRINCIPALS, publicKeyVariable, renderAuthorizationConf } from "./permissions";

/** Where the rendered authorization block lives: the chart includes it, and so does infra/nats/local.conf. */
export const AUTHORIZATION_CONF = "charts/casebridge/files/nats-authorization.conf";

const USAGE = `Usage: npm run nats-auth -- <command> [options]

Commands:
  init --dir <dir>        create an nkey seed (<principal>.nk, mode 0600) for every principal that has
                          none, and write <dir>/public-keys.env for nats-server (CB_NKEY_<PRINCIPAL>=U…)
  render [--check]        write ${AUTHORIZATION_CONF} from the permission table
                          (--check: exit 1 if the file differs from the table)
  secrets --dir <dir> [--namespace <ns>]
                          print Kubernetes Secrets for the chart: casebridge-nats-<principal> (nkey.seed)
                          and casebridge-nats-users (the public keys nats-server reads)

Principals: ${NATS_PRINCIPALS.join(", ")}`;

/** `npm run nats-auth`: makes the platform's NATS credentials and renders its authorization file; resolves with the exit code. */
export function natsAuthCli(argv: string[], _env: NodeJS.ProcessEnv, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  return Promise.resolve(runNatsAuth(argv, out, err));
}

function runNatsAuth(argv: string[], out: (line: string) => void, err: (line: string) => void): number {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { dir: { type: "string" }, check: { type: "boolean" }, namespace: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  const command = positionals[0];
  if (values.help || !command) {
    (values.help ? out : err)(USAGE);
    return values.help ? 0 : 2;
  }
  try {
    switch (command) {
      case "init": {
        if (!values.dir) return usage(err, "init needs --dir");
        const keys = initCredentials(values.dir);
        writeFileSync(`${values.dir}/public-keys.env`, publicKeysEnv(keys));
        out(`NATS credentials of ${keys.size} principals in ${values.dir}`);
        return 0;
      }
      case "render": {
        const wanted = renderAuthorizationConf();
        if (values.check) {
          const current = readFileSync(AUTHORIZATION_CONF, "utf8");
          if (current === wanted) return 0;
          err(`${AUTHORIZATION_CONF} differs from services/kit/src/nats-auth/permissions.ts: run npm run nats-auth -- render`);
          return 1;
        }
        writeFileSync(AUTHORIZATION_CONF, wanted);
        out(`wrote ${AUTHORIZATION_CONF}`);
        return 0;
      }
      case "secrets": {
        if (!values.dir) return usage(err, "secrets needs --dir");
        const keys = initCredentials(values.dir);
        const namespace = values.namespace ? `\n  namespace: ${values.namespace}` : "";
        for (const principal of NATS_PRINCIPALS) {
          const seed = readFileSync(`${values.dir}/${principal}.nk`, "utf8").trim();
          out(`---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: casebridge-nats-${principal}${namespace}\ntype: Opaque\nstringData:\n  nkey.seed: ${seed}`);
        }
        const publicKeys = [...keys].map(([principal, key]) => `  ${publicKeyVariable(principal)}: ${key}`).join("\n");
        out(`---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: casebridge-nats-users${namespace}\ntype: Opaque\nstringData:\n${publicKeys}`);
        return 0;
      }
      default:
        return usage(err, `unknown command '${command}'`);
    }
  } catch (error) {
    if (error instanceof NatsCredentialsError) {
      err(`error: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

function usage(err: (line: string) => void, problem: string): number {
  err(`error: ${problem}\n\n${USAGE}`);
  return 2;
}

if (require.main === module) runCliMain(natsAuthCli);

import { resolve } from "node:path";
import {
  ConfigError,
  connectNats,
  createLogger,
  EnvReader,
  loadTsaCredential,
  natsTlsOptions,
  readNatsTls,
  PkiFilesError,
  serveTimeStamps,
  TimeStampAuthority,
  TSA_NATS_SUBJECT,
  type Env,
  type NatsTlsConfig,
  type Logger,
} from "@casebridge/kit";

/** The time-stamp service's settings, read once from the environment. */
export interface TimeStampServiceConfig {
  readonly natsUrl: string;
  readonly natsSeedFile: string;
  readonly natsTls: NatsTlsConfig;
  readonly pkiDir: string;
  readonly pkiKeyPassphrase: string | undefined;
  readonly logLevel: string;
}

/** Parses the environment (NATS_URL, PKI_DIR, PKI_KEY_PASSPHRASE, LOG_LEVEL); throws ConfigError listing every problem. */
export function loadTimeStampConfig(env: Env): TimeStampServiceConfig {
  const read = new EnvReader(env);
  const config = {
    natsUrl: read.url("NATS_URL", ["nats:", "tls:"], "nats://127.0.0.1:4222"),
    natsSeedFile: read.natsSeedFile("tsa"),
    natsTls: readNatsTls(read, env),
    pkiDir: resolve(read.string("PKI_DIR", ".data/pki")),
    pkiKeyPassphrase: read.string("PKI_KEY_PASSPHRASE", "") || undefined,
    logLevel: read.string("LOG_LEVEL", "info"),
  };
  read.done();
  return config;
}

/** A running time-stamp service. */
export interface RunningTimeStampService {
  readonly logger: Logger;
  stop(): Promise<void>;
}

/** Starts the platform TSA: loads its key and certificate from PKI_DIR and answers on NATS until stopped. */
export async function startTimeStampService(env: Env): Promise<RunningTimeStampService> {
  const config = loadTimeStampConfig(env);
  const logger = createLogger("tsa", config.logLevel);
  let tsa: TimeStampAuthority;
  try {
    const credential = await loadTsaCredential(config.pkiDir, config.pkiKeyPassphrase);
    tsa = new TimeStampAuthority({ key: credential.key, chain: credential.chain });
  } catch (error) {
    if (error instanceof PkiFilesError) throw new ConfigError([`PKI: ${error.message} (create or upgrade the dev PKI with: npm run seal -- init)`]);
    throw error;
  }
  const nats = await connectNats({ servers: config.natsUrl, principal: "tsa", seedFile: config.natsSeedFile, tls: natsTlsOptions(config.natsTls) }, 30, logger);
  const server = serveTimeStamps(nats.nc, tsa, logger);
  await nats.nc.flush();
  logger.info({ subject: TSA_NATS_SUBJECT, certificate: tsa.certificate.subject, serial: tsa.certificate.serial }, "time-stamp authority ready");
  return {
    logger,
    stop: async () => {
      await server.stop();
      await nats.nc.drain().catch(() => undefined);
    },
  };
}

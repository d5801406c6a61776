import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { ExtendedKeyUsageOid } from "./seal/certificate";
import { TLS_OU } from "./seal/tls-pki";

/**
 * Mutual TLS between the gateway and the agency services (one switch, GRPC_TLS=on|off):
 *
 * - on: the service listens with its own certificate (`<GRPC_TLS_DIR>/<agency>.pem` + `.key.pem`),
 *   requires a client certificate chaining to the platform root (`root.pem`), and then serves a call
 *   only when that certificate was issued by the TLS CA (`ca.pem`), has OU=tls, clientAuth, and a CN
 *   in GRPC_TLS_CLIENTS (default: gateway). The gateway presents `gateway.pem` and checks the
 *   service's name against its certificate's SANs.
 * - off: plaintext, refused unless GRPC_HOST is a loopback address (development on one machine).
 *
 * The layout is the `tls/` directory `npm run seal -- init` writes (seal/tls-pki.ts).
 */

/** The PEM files one gRPC peer needs. */
export interface GrpcTlsMaterial {
  /** The platform root: the only trust anchor. */
  readonly root: Buffer;
  /** The TLS CA: the only issuer of TLS identities. */
  readonly ca: Buffer;
  /** This peer's certificate followed by the TLS CA's. */
  readonly certChain: Buffer;
  readonly key: Buffer;
}

/** Reads `root.pem`, `ca.pem`, `<name>.pem` and `<name>.key.pem` from a TLS directory; the error names every missing file. */
export async function readGrpcTlsMaterial(dir: string, name: string): Promise<GrpcTlsMaterial> {
  const files = ["root.pem", "ca.pem", `${name}.pem`, `${name}.key.pem`];
  const read = await Promise.all(files.map((file) => readFile(join(dir, file)).then((bytes) => ({ file, bytes }), () => ({ file, bytes: undefined }))));
  const missing = read.filter((entry) => !entry.bytes).map((entry) => join(dir, entry.file));
  if (missing.length > 0) throw new Error(`gRPC TLS material missing: ${missing.join(", ")} (create it with: npm run seal -- init)`);
  const [root, ca, certChain, key] = read.map((entry) => entry.bytes!) as [Buffer, Buffer, Buffer, Buffer];
  return { root, ca, certChain, key };
}

/** Server credentials that require a client certificate chaining to the root. */
export function grpcServerCredentials(material: GrpcTlsMaterial): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(material.root, [{ cert_chain: material.certChain, private_key: material.key }], true);
}

/** Client credentials that present this peer's certificate and trust the root only. */
export function grpcClientCredentials(material: GrpcTlsMaterial): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(material.root, material.key, material.certChain);
}

/** Why a call's peer may not call, or undefined when it may. */
export type GrpcPeerCheck = (authContext: ReturnType<grpc.ServerUnaryCall<unknown, unknown>["getAuthContext"]>) => string | undefined;

/**
 * The check a TLS server makes on every call: the client certificate (already chained to the root by
 * the handshake) must be issued by the TLS CA (so no seal certificate, which also chains to the root,
 * can pass for a TLS identity), name OU=tls and one of `allowed` as CN, and allow clientAuth.
 * Answers are cached per certificate.
 */
export function tlsPeerCheck(caPem: Buffer, allowed: readonly string[]): GrpcPeerCheck {
  const ca = new X509Certificate(caPem);
  const cache = new Map<string, string | undefined>();
  return (authContext) => {
    const raw = authContext?.sslPeerCertificate?.raw;
    if (!raw) return "no client certificate";
    const fingerprint = authContext.sslPeerCertificate!.fingerprint256;
    if (cache.has(fingerprint)) return cache.get(fingerprint);
    const verdict = judgePeer(new X509Certificate(raw), ca, allowed);
    if (cache.size > 1000) cache.clear();
    cache.set(fingerprint, verdict);
    return verdict;
  };
}

function judgePeer(peer: X509Certificate, ca: X509Certificate, allowed: readonly string[]): string | undefined {
  if (!peer.checkIssued(ca) || !peer.verify(ca.publicKey)) return `client certificate ${peer.subject.replace(/\n/g, ",")} is not issued by the platform TLS CA`;
  const fields = new Map(peer.subject.split("\n").map((line) => line.split("=", 2) as [string, string]));
  const commonName = fields.get("CN") ?? "";
  if (fields.get("OU") !== TLS_OU || !allowed.includes(commonName)) return `client ${commonName || "(no CN)"} may not call this service (allowed: ${allowed.join(", ")})`;
  if (!(peer.keyUsage ?? []).includes(ExtendedKeyUsageOid.clientAuth)) return `client certificate of ${commonName} does not allow clientAuth`;
  const now = Date.now();
  if (now < Date.parse(peer.validFrom) || now > Date.parse(peer.validTo)) return `client certificate of ${commonName} is not valid now`;
  return undefined;
}

/** True for 127.0.0.0/8, ::1 and localhost: the only addresses plaintext gRPC may listen on. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (bare === "localhost") return true;
  if (isIP(bare) === 4) return bare.startsWith("127.");
  return bare === "::1" || bare === "0:0:0:0:0:0:0:1";
}

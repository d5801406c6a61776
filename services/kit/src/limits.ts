import { createFileRegistry, fromBinary, getOption, type DescExtension, type DescField, type DescMessage, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { descriptorSet } from "@casebridge/proto";
import type { FieldViolation } from "./errors";

// The limits of every field are declared once, in the .proto files, as the option
// (casebridge.options.v1.limits) (proto/casebridge/options/v1/limits.proto says why not buf.validate).
// This module reads them from the descriptor set `buf build` writes; the gateway turns them into its
// JSON schemas and `serve` (contract.ts) checks every request against them, on gRPC and NATS alike.

/** The limits of one field; 0 means none. */
export interface FieldLimits {
  /** Most characters (Unicode code points) of a string, or of each string of a list. */
  readonly maxLen: number;
  /** Most bytes of a bytes field, or of each item of a list of bytes. */
  readonly maxBytes: number;
  /** Most items of a list. */
  readonly maxItems: number;
}

const NO_LIMITS: FieldLimits = { maxLen: 0, maxBytes: 0, maxItems: 0 };
const LIMITS_OPTION = "casebridge.options.v1.limits";

let registry: { files: FileRegistry; option: DescExtension } | undefined;

/** The contracts' descriptors (every message, service and option), read once from the descriptor set. */
export function contractRegistry(): FileRegistry {
  return loaded().files;
}

function loaded(): { files: FileRegistry; option: DescExtension } {
  if (!registry) {
    const files = createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptorSet()));
    const option = files.getExtension(LIMITS_OPTION);
    if (!option) throw new Error(`the descriptor set has no option ${LIMITS_OPTION}; run npm run proto`);
    registry = { files, option };
  }
  return registry;
}

/** The limits the contract declares on a field. */
export function limitsOf(field: DescField): FieldLimits {
  const { option } = loaded();
  const declared = getOption(field, option) as { maxLen: number; maxBytes: bigint; maxItems: number } | undefined;
  if (!declared) return NO_LIMITS;
  return { maxLen: declared.maxLen, maxBytes: Number(declared.maxBytes), maxItems: declared.maxItems };
}

/** The limits of a field named by its message and proto name, e.g. ("casebridge.transfer.v1.DocumentInput", "content"). */
export function fieldLimits(typeName: string, fieldName: string): FieldLimits {
  const field = loaded().files.getMessage(typeName)?.fields.find((f) => f.name === fieldName);
  if (!field) throw new Error(`no field ${fieldName} in ${typeName}`);
  return limitsOf(field);
}

/** The largest document (DocumentInput.content) the contracts allow, in bytes. */
export const MAX_DOCUMENT_BYTES = fieldLimits("casebridge.transfer.v1.DocumentInput", "content").maxBytes;

/** The number of Unicode code points of a string (what JSON Schema's maxLength counts). */
function codePoints(text: string, atMost: number): number {
  // A string of no more UTF-16 units than the limit has no more code points either: no need to count.
  if (text.length <= atMost) return text.length;
  let count = 0;
  for (let i = 0; i < text.length; i++, count++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
  }
  return count;
}

/** One field to check: its limits, and the message type to look into (when it has limited fields itself). */
interface Check {
  readonly field: DescField;
  readonly limits: FieldLimits;
  readonly inner?: Check[];
}

const plans = new Map<string, Check[]>();

/** The fields of a message that have limits or lead to some; computed once per message type. */
function planOf(message: DescMessage, visiting = new Set<string>()): Check[] {
  const known = plans.get(message.typeName);
  if (known) return known;
  if (visiting.has(message.typeName)) return []; // a recursive type: its limits are checked at the outer level
  visiting.add(message.typeName);
  const checks: Check[] = [];
  for (const field of message.fields) {
    const limits = limitsOf(field);
    const nested = field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message") ? planOf(field.message, visiting) : [];
    const limited = limits.maxLen > 0 || limits.maxBytes > 0 || limits.maxItems > 0;
    if (limited || nested.length > 0) checks.push({ field, limits, inner: nested.length > 0 ? nested : undefined });
  }
  visiting.delete(message.typeName);
  plans.set(message.typeName, checks);
  return checks;
}

/** What is wrong with one value of a field (a string, bytes or a message). */
function checkValue(check: Check, value: unknown, path: string, out: FieldViolation[]): void {
  const { maxLen, maxBytes } = check.limits;
  if (typeof value === "string") {
    if (maxLen > 0 && codePoints(value, maxLen) > maxLen) out.push({ field: path, description: `must be at most ${maxLen} characters` });
  } else if (value instanceof Uint8Array) {
    if (maxBytes > 0 && value.length > maxBytes) out.push({ field: path, description: `must be at most ${maxBytes} bytes` });
  } else if (check.inner && value !== null && typeof value === "object") {
    walk(check.inner, value as Record<string, unknown>, `${path}.`, out);
  }
}

function walk(checks: readonly Check[], message: Record<string, unknown>, prefix: string, out: FieldViolation[]): void {
  for (const check of checks) {
    // ts-proto names properties in lowerCamelCase, as the descriptors' JSON names.
    const value = message[check.field.jsonName];
    if (value === undefined || value === null) continue;
    const path = `${prefix}${check.field.name}`;
    if (Array.isArray(value)) {
      if (check.limits.maxItems > 0 && value.length > check.limits.maxItems) {
        out.push({ field: path, description: `must have at most ${check.limits.maxItems} items` });
        continue; // its items are not looked at: there are too many of them
      }
      value.forEach((item, index) => checkValue(check, item, `${path}[${index}]`, out));
    } else {
      checkValue(check, value, path, out);
    }
  }
}

/**
 * The violations of the declared limits by a message (a ts-proto object of type `typeName`), with
 * fields named by their proto path, e.g. `documents[0].title`; empty when it keeps them all.
 */
export function limitViolations(typeName: string, message: unknown): FieldViolation[] {
  const type = loaded().files.getMessage(typeName);
  if (!type) throw new Error(`no message ${typeName} in the contracts`);
  return violationsOf(type, message);
}

/** The violations of the declared limits by a message of a known type. */
export function violationsOf(type: DescMessage, message: unknown): FieldViolation[] {
  const out: FieldViolation[] = [];
  if (message !== null && typeof message === "object") walk(planOf(type), message as Record<string, unknown>, "", out);
  return out;
}

/** The request type of a method of a service in the contracts, or undefined when the contracts do not have it. */
export function requestTypeOf(serviceName: string, methodName: string): DescMessage | undefined {
  return loaded().files.getService(serviceName)?.methods.find((method) => method.name === methodName)?.input;
}

import { createFileRegistry, fromBinary, ScalarType, type DescField, type DescMessage, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { limitsOf, type FieldLimits } from "@casebridge/kit";
import { descriptorSet } from "@casebridge/proto";

/** A JSON Schema (draft 2020-12 subset, as OpenAPI 3.1 uses it). */
export type JsonSchema = Record<string, unknown>;

/**
 * Base64 as protobuf's JSON mapping accepts it (standard or URL-safe alphabet, padding optional):
 * ts-proto's decoder would silently drop any other character, so the schema refuses them.
 */
export const BASE64_PATTERN = "^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$";

const INTEGER_SCALARS = new Set([ScalarType.INT32, ScalarType.UINT32, ScalarType.SINT32, ScalarType.FIXED32, ScalarType.SFIXED32, ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64]);

/**
 * JSON Schemas of the protobuf contracts as the gateway writes and reads them (ts-proto's JSON:
 * camelCase names, enum names as strings, Timestamp as RFC 3339, bytes as base64, 64-bit integers as
 * numbers), made from the descriptor set that `buf build` writes, so the REST schemas cannot drift
 * from the .proto files. The field limits the contracts declare (casebridge.options.v1.limits) become
 * maxLength (strings, and base64 of at most max_bytes bytes) and maxItems (lists): the same limits the
 * services check (kit limits.ts).
 */
export class ProtoSchemas {
  /** Every schema made so far, by full message name; OpenAPI's components.schemas. */
  readonly components: Record<string, JsonSchema> = {};
  private readonly registry: FileRegistry;

  constructor(bytes: Uint8Array = descriptorSet()) {
    this.registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  }

  /** A $ref to the schema of a message (e.g. "casebridge.transfer.v1.Transfer"), made with every message it uses. */
  ref(typeName: string): JsonSchema {
    const message = this.registry.getMessage(typeName);
    if (!message) throw new Error(`no message ${typeName} in the contracts`);
    this.define(message);
    return { $ref: `#/components/schemas/${typeName}` };
  }

  /** The schema of one field of a message, e.g. for a query parameter. */
  field(typeName: string, jsonName: string): JsonSchema {
    const field = this.registry.getMessage(typeName)?.fields.find((f) => f.jsonName === jsonName);
    if (!field) throw new Error(`no field ${jsonName} in ${typeName}`);
    return this.fieldSchema(field);
  }

  private define(message: DescMessage): void {
    if (message.typeName === "google.protobuf.Timestamp" || this.components[message.typeName]) return;
    this.components[message.typeName] = {}; // placeholder: messages may refer to themselves
    const properties: Record<string, JsonSchema> = {};
    for (const field of message.fields) properties[field.jsonName] = this.fieldSchema(field);
    this.components[message.typeName] = { type: "object", properties, additionalProperties: false };
  }

  private fieldSchema(field: DescField): JsonSchema {
    const limits = limitsOf(field);
    switch (field.fieldKind) {
      case "scalar":
        return scalarSchema(field.scalar, limits);
      case "enum":
        return { type: "string", enum: field.enum.values.map((v) => v.name) };
      case "message":
        return this.messageSchema(field.message);
      case "list":
        return {
          type: "array",
          ...(limits.maxItems > 0 ? { maxItems: limits.maxItems } : {}),
          items: field.listKind === "scalar" ? scalarSchema(field.scalar, limits) : field.listKind === "enum" ? { type: "string", enum: field.enum.values.map((v) => v.name) } : this.messageSchema(field.message),
        };
      case "map":
        return { type: "object", additionalProperties: field.mapKind === "message" ? this.messageSchema(field.message) : field.mapKind === "enum" ? { type: "string" } : scalarSchema(field.scalar, limits) };
    }
  }

  private messageSchema(message: DescMessage): JsonSchema {
    if (message.typeName === "google.protobuf.Timestamp") return { type: "string", format: "date-time" };
    return this.ref(message.typeName);
  }
}

function scalarSchema(scalar: ScalarType, limits: FieldLimits): JsonSchema {
  if (INTEGER_SCALARS.has(scalar)) return { type: "integer" };
  if (scalar === ScalarType.DOUBLE || scalar === ScalarType.FLOAT) return { type: "number" };
  if (scalar === ScalarType.BOOL) return { type: "boolean" };
  if (scalar === ScalarType.BYTES) {
    // n bytes are at most 4 * ceil(n / 3) base64 characters.
    const maxLength = limits.maxBytes > 0 ? { maxLength: 4 * Math.ceil(limits.maxBytes / 3), description: `at most ${limits.maxBytes} bytes` } : {};
    return { type: "string", contentEncoding: "base64", pattern: BASE64_PATTERN, ...maxLength };
  }
  return limits.maxLen > 0 ? { type: "string", maxLength: limits.maxLen } : { type: "string" };
}

import { system } from "@casebridge/proto";
import { grpcServiceDefinition } from "./grpc-rpc";

describe("grpcServiceDefinition", () => {
  it("derives the same paths and codecs as ts-proto's grpc-js output, so plain grpc-js clients interoperate", () => {
    const derived = grpcServiceDefinition(system.SystemServiceDefinition);
    const generated = system.SystemServiceService;
    expect(Object.keys(derived).sort()).toEqual(Object.keys(generated).sort());
    for (const key of Object.keys(generated) as (keyof typeof generated)[]) {
      expect(derived[key]?.path).toBe(generated[key].path);
    }
    const response = { service: "court", agency: 3, version: "1", instanceId: "x", startedAt: new Date(0) };
    const bytes = derived.getInfo!.responseSerialize(response);
    expect(generated.getInfo.responseDeserialize(bytes)).toEqual(response);
  });
});

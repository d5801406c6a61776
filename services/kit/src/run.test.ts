import { ConfigError } from "./config";
import { describeStartFailure, EXIT_CONFIG, EXIT_UNAVAILABLE } from "./run";
import { StartupError } from "./startup-error";

describe("describeStartFailure", () => {
  it("gives one line and EX_CONFIG for bad configuration", () => {
    expect(describeStartFailure("police", new ConfigError(["NATS_URL is required"]))).toEqual({
      line: "police: invalid configuration: NATS_URL is required",
      exitCode: EXIT_CONFIG,
    });
  });

  it("gives one line and EX_UNAVAILABLE for an unreachable dependency", () => {
    const { line, exitCode } = describeStartFailure("court", new StartupError("cannot reach MongoDB at mongodb://h after 2 attempt(s): timeout"));
    expect(line).toBe("court: cannot reach MongoDB at mongodb://h after 2 attempt(s): timeout");
    expect(line).not.toContain("\n");
    expect(exitCode).toBe(EXIT_UNAVAILABLE);
  });
});

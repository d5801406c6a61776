import { redactUrl } from "./mongo";

describe("redactUrl", () => {
  it("hides the password of a MongoDB URL", () => {
    expect(redactUrl("mongodb://svc:s3cret@db:27017/x")).toBe("mongodb://svc:***@db:27017/x");
    expect(redactUrl("mongodb://db:27017")).toBe("mongodb://db:27017");
  });
});

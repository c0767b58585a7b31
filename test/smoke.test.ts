import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { WalError } from "../src/errors.ts";

describe("smoke: WalError", () => {
  it("has name, code, message and cause", () => {
    const cause = new Error("disk on fire");
    const e = new WalError("IO", "write failed at offset 42", { cause });
    assert.ok(e instanceof Error);
    assert.ok(e instanceof WalError);
    assert.equal(e.name, "WalError");
    assert.equal(e.code, "IO");
    assert.equal(e.message, "write failed at offset 42");
    assert.equal(e.cause, cause);
  });

  it("omits cause when none is given", () => {
    const e = new WalError("CONFIG", "maxSegmentSize must be at least 256, got 10");
    assert.equal(e.code, "CONFIG");
    assert.equal(e.cause, undefined);
    assert.equal("cause" in e, false);
  });
});

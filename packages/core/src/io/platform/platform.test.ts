import * as fsSync from "node:fs";
import * as fs from "node:fs/promises";
import * as nodeModule from "node:module";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

import { nodeFileSystem } from "../node.js";
import * as browserSide from "./browser.js";
import * as nodeSide from "./node.js";

describe('the "#platform" seam', () => {
  it("resolves to the Node side under Node (the file functions get the real fs)", async () => {
    expect(nodeSide.PLATFORM).toBe("node");
    const got = await nodeFileSystem();
    expect(got.fs).toBe(fs);
    expect(got.path).toBe(path);
    expect(nodeSide.nodeModules()).toEqual({ module: nodeModule, fs: fsSync, path });
  });

  it("the browser side has no file system and names the in-memory APIs", async () => {
    expect(browserSide.PLATFORM).toBe("browser");
    expect(browserSide.nodeModules()).toBeUndefined();
    await expect(browserSide.nodeFileSystem()).rejects.toThrow(/needs Node\.js.*adapterFiles\(\).*PeftModel\.fromFiles/s);
  });
});

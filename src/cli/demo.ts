// placeholder until the demo is written this session
import type { Command } from "commander";
export function registerDemo(_program: Command): void {}

/** A command-line tool's entry: runs it with the process's arguments and environment and sets the exit code. */
export function runCliMain(
  run: (argv: string[], env: NodeJS.ProcessEnv, out: (line: string) => void, err: (line: string) => void) => Promise<number>,
): void {
  run(process.argv.slice(2), process.env, (line) => console.log(line), (line) => console.error(line)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}

/**
 * A child process of runRace (./race.ts): runs the rows that need the backend its parent's process
 * does not have, and prints each event as a JSON line as it happens, so the parent reports every
 * row as it finishes. It exits when its parent goes (exitWithRaceParent).
 *
 *   node race-child.js '{"backend":"generic","rows":[...],"options":{...}}'
 */
import { exitWithRaceParent, serveRaceChild, type RaceChildRequest } from './race';

exitWithRaceParent();
serveRaceChild(JSON.parse(process.argv[2] ?? '{}') as RaceChildRequest, (event) => process.stdout.write(`${JSON.stringify(event)}\n`)).catch(
  (error: unknown) => {
    const { name, message } = error instanceof Error ? error : { name: 'Error', message: String(error) };
    process.stderr.write(`${name}: ${message}\n`);
    process.exitCode = 1;
  },
);

/**
 * Every command the CLI knows, as Clipanion classes built from their specs (command-spec.ts). Command
 * modules import only light code at the top and load heavy modules (xstate, HTTP, inspector) when
 * they run, so listing them here costs little.
 */
import type { CommandClass } from 'clipanion';
import { commandClass } from './clipanion-command.js';

export async function loadCommands(): Promise<CommandClass[]> {
  const modules = await Promise.all([
    // foundation
    import('./commands/enqueue.js'),
    import('./commands/outbox-status.js'),
    import('./commands/outbox-list.js'),
    import('./commands/outbox-retry.js'),
    import('./commands/outbox-purge.js'),
    // agent hooks and service install
    import('./commands/hook-agent.js'),
    import('./commands/hook-install.js'),
    import('./commands/hook-uninstall.js'),
    import('./commands/daemon-install.js'),
    import('./commands/daemon-uninstall.js'),
    // delivery
    import('./commands/outbox-drain.js'),
    import('./commands/cloud-serve.js'),
    // machines
    import('./commands/machines-export.js'),
    import('./commands/inspect-relay.js'),
    // the daemon
    import('./commands/daemon-run.js'),
    import('./commands/daemon-start.js'),
    import('./commands/daemon-stop.js'),
    import('./commands/daemon-status.js'),
    import('./commands/daemon-restart.js'),
    import('./commands/daemon-log.js'),
    import('./commands/daemon-view.js'),
    // end to end
    import('./commands/demo.js'),
    import('./commands/doctor.js'),
  ]);
  return modules.map((m) => commandClass(m.default));
}

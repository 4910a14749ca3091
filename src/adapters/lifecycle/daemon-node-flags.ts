/**
 * V8 flags for the long-lived daemon, whoever starts it (`daemon start`, a hook's autostart, the
 * systemd unit, the launchd agent): a 1 MB young generation instead of up to 16 MB per semi-space.
 * A drain allocates many short-lived objects; the small nursery collects them sooner, which kept the
 * daemon's peak RSS draining 100k rows at ~107 MB instead of ~134 MB (DESIGN §9: ≤ 150 MB at 1M rows)
 * with no loss of rows/s (README benchmarks).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

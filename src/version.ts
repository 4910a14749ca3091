/** The product version, kept in step with package.json by a test. */
export const VERSION = '0.1.0';
export const USER_AGENT = `difflore-daemon/${VERSION} (node ${process.versions.node})`;

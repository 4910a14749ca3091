/** The check every `--port` option shares: a whole number a TCP port can be (0 asks for a free one). */
import * as t from 'typanion';

export const isTcpPort = t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(0, 65535)]);

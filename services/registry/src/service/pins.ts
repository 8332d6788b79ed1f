// Tool pinning RPCs: the pin list with pending changes, and approve/reject.
import { status } from '@grpc/grpc-js';
import { DecidePinResponse_Outcome, type RegistryServer } from '@mcpgw/proto/registry';
import type { RegistryDeps } from '../server.js';
import { toToolPin } from './convert.js';

export type PinHandlers = Pick<RegistryServer, 'listPins' | 'decidePin'>;

export function pinHandlers(deps: RegistryDeps): PinHandlers {
  const { log } = deps;
  return {
    listPins(call, cb) {
      deps.pins.list(call.request.server || undefined).then(
        (pins) => cb(null, { pins: pins.map(toToolPin), mode: deps.pins.mode }),
        (err: Error) => cb({ code: status.UNAVAILABLE, details: `pin store unavailable: ${err.message}` }),
      );
    },

    decidePin(call, cb) {
      const { server, tool, fingerprint, reject, principal } = call.request;
      deps.pins.decide(server, tool, fingerprint, reject, principal).then((d) => {
        if (d.outcome === 'done') log.info({ audit: reject ? 'pin_rejected' : 'pin_approved', server, tool, fingerprint: d.pin.pending?.fingerprint ?? d.pin.fingerprint, principal }, 'tool pin decided');
        cb(null, d.outcome === 'done'
          ? { outcome: DecidePinResponse_Outcome.OUTCOME_DONE, pin: toToolPin(d.pin) }
          : { outcome: d.outcome === 'unknown_tool' ? DecidePinResponse_Outcome.OUTCOME_UNKNOWN_TOOL : DecidePinResponse_Outcome.OUTCOME_NOT_PENDING });
      }, (err: Error) => cb({ code: status.UNAVAILABLE, details: `pin store unavailable: ${err.message}` }));
    },
  };
}

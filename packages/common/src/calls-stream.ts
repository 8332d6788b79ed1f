// What the edge and the registry agree on for the multiplexed `Calls` stream
// beyond the proto: features announced in the stream's metadata, so either
// side can be upgraded first (a rolling upgrade mixes versions).

/** Stream metadata by which an edge says it reads `last` frames (CallsResponse.last): a result and its end in one frame. */
export const LAST_FRAME_HEADER = 'mcpgw-last-frame';

/** A tool call whose `arguments` are not a JSON object (the model produced bad JSON, or e.g. an array). */
export class ToolArgumentsError extends Error {
  override readonly name = 'ToolArgumentsError';
  constructor(
    /** The provider's tool call id (`call_…`). */
    readonly toolCallId: string,
    /** The tool name as the model used it. */
    readonly toolName: string,
    /** The raw `arguments` string the model sent. */
    readonly rawArguments: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`tool call ${toolCallId} (${toolName}): arguments are not a JSON object: ${reason}`, options);
  }
}

/** An MCP tool whose input schema cannot be given to an LLM provider as a function's parameters. */
export class ToolSchemaError extends Error {
  override readonly name = 'ToolSchemaError';
  constructor(readonly toolName: string, reason: string) {
    super(`tool ${toolName}: input schema is not usable as function parameters: ${reason}`);
  }
}

/** A dependency the service needs (NATS, MongoDB, a port) could not be had at start-up. */
export class StartupError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StartupError";
  }
}

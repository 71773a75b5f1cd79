// What this app keeps in a session, typed through the library's SessionData interface.
declare module '@novanest/session' {
  interface SessionData {
    username: string;
    /** Messages sent over the socket, saved by the gateway itself. */
    sent: number;
  }
}

export {};

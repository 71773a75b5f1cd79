// The demo's session keys, typed for session.get/set through declaration merging.
declare module '@novanest/session' {
  interface SessionData {
    /** Who logged in (set by POST /login). */
    username: string;
    /** The Compas counter (POST /counter/*). */
    counter: number;
  }
}

export {};

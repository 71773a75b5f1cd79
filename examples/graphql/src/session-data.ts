// The example's session keys, typed for session.get/set through declaration merging.
declare module '@novanest/session' {
  interface SessionData {
    /** Who logged in (set by the `login` mutation). */
    username: string;
    /** When they logged in, as an ISO date (set by the `login` mutation). */
    loggedInAt: string;
  }
}

export {};

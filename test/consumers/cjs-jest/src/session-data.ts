// The app's session keys, typed for session.get/set through declaration merging.
declare module '@novanest/session' {
  interface SessionData {
    username: string;
  }
}

export {};

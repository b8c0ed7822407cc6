/**
 * The TrackedConnection side of a connection that is never moved to another process (an
 * HTTP/2 session, whose HPACK and stream state live in nghttp2; an HTTP/1.1 connection served
 * by Node's parser; a connection whose protocol is not known yet): it drains instead, on a
 * graceful stop, under overload and when a hot upgrade starts. Subclasses say how to drain and
 * how to close.
 */
import type { Detached, TrackedConnection } from './context';

export abstract class UnmovableConnection implements TrackedConnection {
  abstract drain(): void;
  abstract destroy(): void;

  shed(): void {
    this.drain();
  }

  handoverStarted(): void {
    this.drain();
  }

  movable(): boolean {
    return false;
  }

  detach(): Detached {
    throw new Error(`${this.constructor.name} is drained, not moved`);
  }

  reattach(): void {
    /* never detached */
  }

  release(): void {
    this.destroy();
  }
}

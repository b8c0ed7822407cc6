/**
 * Who is on the other end of a Unix socket of the run dir (the control socket, upgrade.sock,
 * the xfer-/return- sockets): SO_PEERCRED, the pid/uid/gid the kernel recorded when the peer
 * connected (not something the peer can claim). Our servers check it before reading a byte:
 * only the master's own user, or root, may talk to them. The 0600 socket files in a 0700 run
 * dir are the first fence; this is the second, for a run dir whose modes were loosened (a
 * shared --run-dir, a chmod by hand) or a socket inherited through another path.
 */
import { isMosndError } from '../shared/errors';
import { native } from './fdpass';

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** The verdict on one peer; `cred` is null where the platform cannot tell (see below). */
export interface PeerCheck {
  allowed: boolean;
  cred: PeerCred | null;
}

/** The peer's credentials (throws the errno, e.g. ENOTSOCK, as the addon does). */
export function peerCred(fd: number): PeerCred {
  return native().peerCred(fd);
}

/** The same user as this process, or root. */
export function allowedUid(uid: number): boolean {
  const own = typeof process.getuid === 'function' ? process.getuid() : -1;
  return uid === own || uid === 0;
}

/**
 * Checks the peer of a connected Unix socket. Where the addon is not available (it is built
 * for Linux only) nothing can be checked: the peer is let in with `cred: null`, and the socket
 * and directory modes are the only fence, as they were before this check existed.
 */
export function checkPeer(fd: number): PeerCheck {
  let cred: PeerCred;
  try {
    cred = peerCred(fd);
  } catch (e) {
    if (isMosndError(e) && e.code === 'MOSND_ERR_TRANSFER_ADDON') return { allowed: true, cred: null };
    return { allowed: false, cred: null }; // not a socket we can ask: nobody we know
  }
  return { allowed: allowedUid(cred.uid), cred };
}

/** One sentence for a refused peer, with its pid and uid. */
export function describeRefusedPeer(where: string, check: PeerCheck): string {
  const own = typeof process.getuid === 'function' ? process.getuid() : -1;
  const who = check.cred ? `pid ${check.cred.pid}, uid ${check.cred.uid}` : 'a peer whose credentials cannot be read';
  return `refused a connection to ${where} from ${who}: only uid ${own} (the master's) or root may connect`;
}

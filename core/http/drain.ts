import { Server as NetServer, type Socket } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/**
 * How long a keep-alive socket with no request in progress is left open once draining starts. Its
 * client may have a request on the wire already: closing the socket at once resets that request
 * (the client cannot know whether it ran), while a request that arrives within the grace is answered
 * with `Connection: close`. A second is far longer than a request takes to cross a network.
 */
export const IDLE_GRACE_MS = 1_000;

export interface DrainOptions {
  /** Bounds the whole drain: sockets still open then are destroyed. */
  timeoutMs: number;
  idleGraceMs?: number;
}

/** What a drain did: how it ended and how many sockets it had to cut. */
export interface DrainResult {
  /** False when the timeout cut requests still in progress. */
  clean: boolean;
  /** Sockets destroyed at the timeout. */
  cut: number;
}

/** Drains one `node:http` server; created before it listens so it sees every connection. */
export interface ConnectionDrainer {
  /**
   * Stops accepting connections, answers every request in progress or still arriving on an open
   * connection with `Connection: close`, closes sockets that stay idle through the grace, and resolves
   * when no socket is left (or at the timeout, after destroying the rest).
   */
  drain(options: DrainOptions): Promise<DrainResult>;
}

interface TrackedSocket {
  /** Responses on this socket that have not closed yet (more than one only when the client pipelines). */
  responses: Set<ServerResponse>;
  idleTimer?: NodeJS.Timeout;
}

/** Tracks the server's sockets and their requests in progress, so that a later drain knows both. */
export function trackConnections(server: Server): ConnectionDrainer {
  const sockets = new Map<Socket, TrackedSocket>();
  let draining = false;
  let idleGraceMs = IDLE_GRACE_MS;
  let allClosed: (() => void) | undefined;

  const closeWhenStillIdle = (socket: Socket, tracked: TrackedSocket) => {
    clearTimeout(tracked.idleTimer);
    tracked.idleTimer = setTimeout(() => {
      if (tracked.responses.size === 0) socket.destroy();
    }, idleGraceMs);
  };

  server.on('connection', (socket: Socket) => {
    const tracked: TrackedSocket = { responses: new Set() };
    sockets.set(socket, tracked);
    socket.once('close', () => {
      clearTimeout(tracked.idleTimer);
      sockets.delete(socket);
      if (draining && sockets.size === 0) allClosed?.();
    });
    if (draining) closeWhenStillIdle(socket, tracked);
  });

  // Prepended so it runs before the application sees the request and can answer it.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const tracked = sockets.get(socket);
    if (!tracked) return;
    tracked.responses.add(res);
    clearTimeout(tracked.idleTimer);
    if (draining) res.shouldKeepAlive = false;
    res.once('close', () => {
      tracked.responses.delete(res);
      // An answer sent with keep-alive before the drain began leaves an open socket the client may reuse.
      if (draining && tracked.responses.size === 0 && !socket.destroyed) closeWhenStillIdle(socket, tracked);
    });
  });

  return {
    drain({ timeoutMs, idleGraceMs: grace = IDLE_GRACE_MS }) {
      draining = true;
      idleGraceMs = grace;
      stopAccepting(server);
      // Responses not begun yet say `Connection: close`, and Node closes their socket once written.
      for (const [socket, tracked] of sockets) {
        for (const res of tracked.responses) if (!res.headersSent) res.shouldKeepAlive = false;
        if (tracked.responses.size === 0) closeWhenStillIdle(socket, tracked);
      }

      return new Promise<DrainResult>((resolve) => {
        const deadline = setTimeout(() => {
          const cut = sockets.size;
          const clean = [...sockets.values()].every((tracked) => tracked.responses.size === 0);
          for (const socket of sockets.keys()) socket.destroy();
          resolve({ clean, cut });
        }, timeoutMs);
        allClosed = () => {
          clearTimeout(deadline);
          resolve({ clean: true, cut: 0 });
        };
        if (sockets.size === 0) allClosed();
      });
    },
  };
}

/**
 * Closes the listening socket only. Node's `http.Server#close` (Node ≥ 19) also destroys every idle
 * keep-alive socket at once — exactly the race the grace exists to avoid — so the plain `net.Server`
 * close is called instead; idle sockets are then closed by the drain, after their grace.
 */
function stopAccepting(server: Server): void {
  if (!server.listening) return;
  NetServer.prototype.close.call(server);
}

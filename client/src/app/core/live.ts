import { Injectable, InjectionToken, effect, inject, signal } from '@angular/core';
import { Subject } from 'rxjs';
import { io, Socket } from 'socket.io-client';

import { AppNotification, Post } from './api-types';
import { Session } from './session';

/** The part of a socket.io-client Socket this app uses; tests give a fake. */
export interface LiveSocket {
  on(event: string, listener: (...args: never[]) => void): unknown;
  disconnect(): unknown;
}

export const LIVE_SOCKET_FACTORY = new InjectionToken<() => LiveSocket>('LIVE_SOCKET_FACTORY', {
  providedIn: 'root',
  // Same origin, default path `/socket.io/`: the session cookie is what authenticates the socket.
  // WebSocket only, as the server accepts: one connection carries the whole session, so nginx may put it on
  // any of the host's gunicorn processes (long-polling would need every request on the one that opened it).
  factory: () => (): Socket =>
    io({ path: '/socket.io/', withCredentials: true, transports: ['websocket'] }),
});

export type LiveState = 'offline' | 'connecting' | 'live';

/**
 * One Socket.IO connection per signed-in user. It is opened after sign-in and closed on sign-out,
 * because the server puts a connection in the user's room only when the cookie is there at connect time.
 */
@Injectable({ providedIn: 'root' })
export class Live {
  private readonly createSocket = inject(LIVE_SOCKET_FACTORY);
  private readonly session = inject(Session);
  private socket: LiveSocket | null = null;
  private readonly stateSignal = signal<LiveState>('offline');

  readonly state = this.stateSignal.asReadonly();
  readonly posts = new Subject<Post>();
  readonly notifications = new Subject<AppNotification>();
  /** Fires when the socket comes back after a drop: events sent meanwhile were missed. */
  readonly resumed = new Subject<void>();

  constructor() {
    effect(() => {
      const user = this.session.user();
      this.close();
      if (user) {
        this.open();
      }
    });
  }

  private open(): void {
    const socket = this.createSocket();
    this.stateSignal.set('connecting');
    let connectedBefore = false;
    socket.on('connect', () => {
      this.stateSignal.set('live');
      if (connectedBefore) {
        this.resumed.next();
      }
      connectedBefore = true;
    });
    socket.on('disconnect', () => this.stateSignal.set('connecting'));
    socket.on('feed:new', (post: Post) => this.posts.next(post));
    socket.on('notification', (notification: AppNotification) =>
      this.notifications.next(notification),
    );
    this.socket = socket;
  }

  private close(): void {
    this.socket?.disconnect();
    this.socket = null;
    this.stateSignal.set('offline');
  }
}

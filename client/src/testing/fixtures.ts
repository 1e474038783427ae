import { AppNotification, Post, User } from '../app/core/api-types';
import { LiveSocket } from '../app/core/live';

export function makeUser(overrides: Partial<User> = {}): User {
  return {
    id: 1,
    username: 'ana',
    display_name: 'Ana',
    bio: '',
    followers: 0,
    following: 0,
    is_following: false,
    ...overrides,
  };
}

export function makePost(overrides: Partial<Post> = {}): Post {
  return {
    id: 10,
    author: { id: 2, username: 'ben', display_name: 'Ben' },
    body: 'hello',
    html: '<p>hello</p>',
    image_url: null,
    created_at: '2026-01-01T10:00:00Z',
    comment_count: 0,
    ...overrides,
  };
}

export function makeNotification(overrides: Partial<AppNotification> = {}): AppNotification {
  return {
    id: 100,
    kind: 'mention',
    actor: { id: 2, username: 'ben', display_name: 'Ben' },
    post_id: 10,
    read: false,
    created_at: '2026-01-01T10:00:00Z',
    ...overrides,
  };
}

/** Stands in for a socket.io-client Socket: tests fire server events with `emit`. */
export class FakeSocket implements LiveSocket {
  readonly listeners = new Map<string, ((...args: never[]) => void)[]>();
  disconnected = false;

  on(event: string, listener: (...args: never[]) => void): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }

  disconnect(): this {
    this.disconnected = true;
    return this;
  }

  emit(event: string, ...args: unknown[]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      (listener as (...values: unknown[]) => void)(...args);
    }
  }
}

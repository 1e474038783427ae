/** Shapes of the JSON the server sends, as fixed in docs/contracts.md. */

export interface UserLite {
  id: number;
  username: string;
  display_name: string;
}

export interface User extends UserLite {
  bio: string;
  followers: number;
  following: number;
  is_following: boolean;
}

export interface Post {
  id: number;
  author: UserLite;
  body: string;
  /** Sanitised by the server from the markdown `body`. */
  html: string;
  image_url: string | null;
  created_at: string;
  comment_count: number;
}

export interface Comment {
  id: number;
  post_id: number;
  author: UserLite;
  body: string;
  html: string;
  created_at: string;
}

export type NotificationKind = 'mention' | 'follow' | 'comment';

export interface AppNotification {
  id: number;
  kind: NotificationKind;
  actor: UserLite;
  post_id: number | null;
  read: boolean;
  created_at: string;
}

/** A cursor page; `next_cursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface NotificationPage extends Page<AppNotification> {
  unread: number;
}

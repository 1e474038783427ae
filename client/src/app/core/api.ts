import { HttpClient, HttpParams } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, map } from 'rxjs';

import {
  AppNotification,
  Comment,
  NotificationPage,
  Page,
  Post,
  User,
  UserLite,
} from './api-types';

/** Thin typed client of the `/api/` routes; paths are relative so the app works under any origin. */
@Injectable({ providedIn: 'root' })
export class Api {
  private readonly http = inject(HttpClient);

  register(username: string, email: string, password: string): Observable<User> {
    return this.http
      .post<{ user: User }>('/api/auth/register', { username, email, password })
      .pipe(map((answer) => answer.user));
  }

  login(username: string, password: string): Observable<User> {
    return this.http
      .post<{ user: User }>('/api/auth/login', { username, password })
      .pipe(map((answer) => answer.user));
  }

  logout(): Observable<unknown> {
    return this.http.post('/api/auth/logout', {});
  }

  me(): Observable<User> {
    return this.http.get<{ user: User }>('/api/auth/me').pipe(map((answer) => answer.user));
  }

  /** Mention autocomplete: at most 10 users whose username starts with `prefix`. */
  searchUsers(prefix: string): Observable<UserLite[]> {
    const params = new HttpParams().set('q', prefix);
    return this.http
      .get<{ items: UserLite[] }>('/api/users', { params })
      .pipe(map((answer) => answer.items));
  }

  user(username: string): Observable<User> {
    return this.http
      .get<{ user: User }>(`/api/users/${encodeURIComponent(username)}`)
      .pipe(map((answer) => answer.user));
  }

  updateMe(changes: { display_name?: string; bio?: string }): Observable<User> {
    return this.http
      .patch<{ user: User }>('/api/users/me', changes)
      .pipe(map((answer) => answer.user));
  }

  follow(username: string): Observable<User> {
    return this.http
      .post<{ user: User }>(`/api/users/${encodeURIComponent(username)}/follow`, {})
      .pipe(map((answer) => answer.user));
  }

  unfollow(username: string): Observable<User> {
    return this.http
      .delete<{ user: User }>(`/api/users/${encodeURIComponent(username)}/follow`)
      .pipe(map((answer) => answer.user));
  }

  userPosts(username: string, cursor: string | null): Observable<Page<Post>> {
    return this.http.get<Page<Post>>(`/api/users/${encodeURIComponent(username)}/posts`, {
      params: cursorParams(cursor),
    });
  }

  feed(cursor: string | null, limit = 20): Observable<Page<Post>> {
    const params = cursorParams(cursor).set('limit', limit);
    return this.http.get<Page<Post>>('/api/feed', { params });
  }

  createPost(body: string, imageUrl: string | null): Observable<Post> {
    const payload = imageUrl ? { body, image_url: imageUrl } : { body };
    return this.http.post<{ post: Post }>('/api/posts', payload).pipe(map((answer) => answer.post));
  }

  post(id: number): Observable<Post> {
    return this.http.get<{ post: Post }>(`/api/posts/${id}`).pipe(map((answer) => answer.post));
  }

  deletePost(id: number): Observable<unknown> {
    return this.http.delete(`/api/posts/${id}`);
  }

  comments(postId: number): Observable<Comment[]> {
    return this.http
      .get<{ items: Comment[] }>(`/api/posts/${postId}/comments`)
      .pipe(map((answer) => answer.items));
  }

  addComment(postId: number, body: string): Observable<Comment> {
    return this.http
      .post<{ comment: Comment }>(`/api/posts/${postId}/comments`, { body })
      .pipe(map((answer) => answer.comment));
  }

  notifications(cursor: string | null): Observable<NotificationPage> {
    return this.http.get<NotificationPage>('/api/notifications', { params: cursorParams(cursor) });
  }

  /** Marks the given notifications read, or all of them when `ids` is omitted. */
  markRead(ids?: AppNotification['id'][]): Observable<number> {
    return this.http
      .post<{ unread: number }>('/api/notifications/read', ids ? { ids } : {})
      .pipe(map((answer) => answer.unread));
  }

  upload(file: File): Observable<string> {
    const form = new FormData();
    form.append('file', file, file.name);
    return this.http.post<{ url: string }>('/api/uploads', form).pipe(map((answer) => answer.url));
  }
}

function cursorParams(cursor: string | null): HttpParams {
  return cursor ? new HttpParams().set('cursor', cursor) : new HttpParams();
}

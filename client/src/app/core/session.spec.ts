import { TestBed } from '@angular/core/testing';

import { makeUser } from '../../testing/fixtures';
import { setUpTestBed } from '../../testing/setup';
import { Api } from './api';
import { Session } from './session';

describe('Session', () => {
  it('restores the user that owns the cookie, asking only once', async () => {
    const { http } = setUpTestBed();
    const session = TestBed.inject(Session);
    const first = session.restore();
    const second = session.restore();
    http.expectOne('/api/auth/me').flush({ user: makeUser() });
    await Promise.all([first, second]);
    expect(session.user()?.username).toBe('ana');
    http.verify();
  });

  it('treats 401 from /me as signed out', async () => {
    const { http } = setUpTestBed();
    const session = TestBed.inject(Session);
    const restored = session.restore();
    http.expectOne('/api/auth/me').flush({ msg: 'not logged in' }, { status: 401, statusText: 'Unauthorized' });
    await restored;
    expect(session.signedIn()).toBe(false);
  });

  it('registers, then forgets the user on logout', () => {
    const { http } = setUpTestBed();
    const session = TestBed.inject(Session);
    session.register('ana', 'ana@example.test', 'password1').subscribe();
    const register = http.expectOne('/api/auth/register');
    expect(register.request.body).toEqual({ username: 'ana', email: 'ana@example.test', password: 'password1' });
    register.flush({ user: makeUser() }, { status: 201, statusText: 'Created' });
    expect(session.signedIn()).toBe(true);
    session.logout().subscribe();
    http.expectOne('/api/auth/logout').flush({ msg: 'bye' });
    expect(session.signedIn()).toBe(false);
  });

  it('forgets the user when any API call answers 401', () => {
    const { http } = setUpTestBed();
    const session = TestBed.inject(Session);
    session.login('ana', 'pw').subscribe();
    http.expectOne('/api/auth/login').flush({ user: makeUser() });
    TestBed.inject(Api).feed(null).subscribe({ error: () => undefined });
    http.expectOne((request) => request.url === '/api/feed').flush(
      { msg: 'login required' },
      { status: 401, statusText: 'Unauthorized' },
    );
    expect(session.signedIn()).toBe(false);
  });
});

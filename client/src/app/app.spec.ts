import { Location } from '@angular/common';
import { TestBed } from '@angular/core/testing';
import { Router, provideRouter } from '@angular/router';

import { makeNotification, makeUser } from '../testing/fixtures';
import { flushLatest, setUpTestBed, signIn } from '../testing/setup';
import { App } from './app';
import { signedInGuard } from './core/auth-guard';

describe('App shell', () => {
  it('offers sign in and sign up to visitors', async () => {
    setUpTestBed();
    const fixture = TestBed.createComponent(App);
    await fixture.whenStable();
    const links = [...(fixture.nativeElement as HTMLElement).querySelectorAll('nav a')].map((a) => a.textContent?.trim());
    expect(links).toEqual(['Raindrop', 'Sign in', 'Sign up']);
  });

  it('shows the unread count, which grows with live notifications', async () => {
    const { http, sockets } = setUpTestBed();
    signIn(http, makeUser());
    const fixture = TestBed.createComponent(App);
    TestBed.tick();
    flushLatest(http, '/api/notifications', { items: [], unread: 2, next_cursor: null });
    await fixture.whenStable();
    const element = fixture.nativeElement as HTMLElement;
    const badge = () => element.querySelector('[data-testid=unread-badge]')?.textContent?.trim();
    expect(badge()).toBe('2');
    const link = [...element.querySelectorAll('nav a')].find((a) => a.textContent?.includes('Notifications'))!;
    expect(link.getAttribute('aria-label')).toBe('Notifications, 2 unread notifications');

    sockets[0].emit('notification', makeNotification({ id: 9 }));
    await fixture.whenStable();
    expect(badge()).toBe('3');
    expect(element.querySelector('[aria-live=polite]')?.textContent).toBe('Ben mentioned you in a post');
  });

  it('signs out and goes to the sign-in page', async () => {
    const { http } = setUpTestBed();
    signIn(http, makeUser());
    const navigate = vi.spyOn(TestBed.inject(Router), 'navigateByUrl').mockResolvedValue(true);
    const fixture = TestBed.createComponent(App);
    await fixture.whenStable();
    const element = fixture.nativeElement as HTMLElement;
    [...element.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Sign out')!.click();
    http.expectOne('/api/auth/logout').flush({ msg: 'bye' });
    await fixture.whenStable();
    expect(navigate).toHaveBeenCalledWith('/signin');
    expect(element.textContent).toContain('Sign in');
  });
});

describe('signedInGuard', () => {
  it('sends visitors to sign in with the page they wanted', async () => {
    const { http } = setUpTestBed([
      provideRouter([
        { path: 'notifications', canActivate: [signedInGuard], children: [] },
        { path: 'signin', children: [] },
      ]),
    ]);
    const navigation = TestBed.inject(Router).navigateByUrl('/notifications');
    const me = await vi.waitFor(() => http.expectOne('/api/auth/me'));
    me.flush({ msg: 'login required' }, { status: 401, statusText: 'x' });
    await navigation;
    expect(TestBed.inject(Location).path()).toBe('/signin?next=%2Fnotifications');
  });
});

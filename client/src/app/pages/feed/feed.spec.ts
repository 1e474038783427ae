import { TestBed } from '@angular/core/testing';

import { makePost, makeUser } from '../../../testing/fixtures';
import { setUpTestBed, signIn } from '../../../testing/setup';
import { Feed } from './feed';

describe('Feed', () => {
  async function setUp() {
    const setup = setUpTestBed();
    signIn(setup.http, makeUser());
    const fixture = TestBed.createComponent(Feed);
    await fixture.whenStable();
    const element = fixture.nativeElement as HTMLElement;
    const shownIds = () =>
      [...element.querySelectorAll('app-post-card article')].map((card) =>
        Number(card.getAttribute('aria-labelledby')?.split('-')[1]),
      );
    return { ...setup, fixture, element, shownIds };
  }

  it('shows the loading state, then the first page', async () => {
    const { http, fixture, element, shownIds } = await setUp();
    expect(element.textContent).toContain('Loading posts…');
    http
      .expectOne('/api/feed?limit=20')
      .flush({ items: [makePost({ id: 2 }), makePost({ id: 1 })], next_cursor: 'next' });
    await fixture.whenStable();
    expect(shownIds()).toEqual([2, 1]);
    expect(element.textContent).not.toContain('Loading posts…');
  });

  it('appends older pages with the cursor', async () => {
    const { http, fixture, element, shownIds } = await setUp();
    http.expectOne('/api/feed?limit=20').flush({ items: [makePost({ id: 2 })], next_cursor: 'c1' });
    await fixture.whenStable();
    [...element.querySelectorAll('button')].find((b) => b.textContent?.includes('Load older'))!.click();
    http.expectOne('/api/feed?cursor=c1&limit=20').flush({ items: [makePost({ id: 1 })], next_cursor: null });
    await fixture.whenStable();
    expect(shownIds()).toEqual([2, 1]);
    expect(element.textContent).not.toContain('Load older');
  });

  it('puts posts from the socket on top, once, and announces them', async () => {
    const { http, fixture, element, sockets, shownIds } = await setUp();
    http.expectOne('/api/feed?limit=20').flush({ items: [makePost({ id: 1 })], next_cursor: null });
    await fixture.whenStable();
    const live = makePost({ id: 3, author: { id: 4, username: 'cy', display_name: 'Cy' } });
    sockets[0].emit('feed:new', live);
    sockets[0].emit('feed:new', live);
    await fixture.whenStable();
    expect(shownIds()).toEqual([3, 1]);
    expect(element.querySelector('[aria-live=polite]')?.textContent).toBe('New post from Cy');
  });

  it('shows the error with a way to try again', async () => {
    const { http, fixture, element, shownIds } = await setUp();
    http.expectOne('/api/feed?limit=20').flush({ msg: 'feed unavailable' }, { status: 503, statusText: 'x' });
    await fixture.whenStable();
    expect(element.querySelector('[role=alert]')?.textContent).toContain('feed unavailable');
    [...element.querySelectorAll('button')].find((b) => b.textContent?.includes('Try again'))!.click();
    http.expectOne('/api/feed?limit=20').flush({ items: [makePost({ id: 1 })], next_cursor: null });
    await fixture.whenStable();
    expect(shownIds()).toEqual([1]);
    expect(element.querySelector('[role=alert]')).toBeNull();
  });

  it('says when the feed is empty', async () => {
    const { http, fixture, element } = await setUp();
    http.expectOne('/api/feed?limit=20').flush({ items: [], next_cursor: null });
    await fixture.whenStable();
    expect(element.textContent).toContain('Your feed is empty.');
  });

  it('fetches the first page again after a reconnection, keeping what it shows', async () => {
    const { http, fixture, sockets, shownIds } = await setUp();
    http.expectOne('/api/feed?limit=20').flush({ items: [makePost({ id: 1 })], next_cursor: null });
    sockets[0].emit('connect');
    sockets[0].emit('disconnect');
    sockets[0].emit('connect');
    http
      .expectOne('/api/feed?limit=20')
      .flush({ items: [makePost({ id: 2, created_at: '2026-01-01T11:00:00Z' }), makePost({ id: 1 })], next_cursor: null });
    await fixture.whenStable();
    expect(shownIds()).toEqual([2, 1]);
  });
});

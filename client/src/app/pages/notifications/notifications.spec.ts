import { TestBed } from '@angular/core/testing';

import { makeNotification, makeUser } from '../../../testing/fixtures';
import { flushLatest, setUpTestBed, signIn } from '../../../testing/setup';
import { Notifications } from './notifications';

describe('Notifications', () => {
  it('lists notifications, marks one read, and shows live ones', async () => {
    const { http, sockets } = setUpTestBed();
    signIn(http, makeUser());
    const fixture = TestBed.createComponent(Notifications);
    TestBed.tick();
    flushLatest(http, '/api/notifications', {
      items: [makeNotification({ id: 1 }), makeNotification({ id: 2, kind: 'follow', read: true })],
      unread: 1,
      next_cursor: null,
    });
    await fixture.whenStable();
    const element = fixture.nativeElement as HTMLElement;
    const unreadCount = () => element.querySelector('[data-testid=unread-count]')?.textContent;
    expect(unreadCount()).toBe('1 unread');
    const items = [...element.querySelectorAll('li')].map((item) => item.textContent);
    expect(items[0]).toContain('new Ben mentioned you in a post');
    expect(items[1]).toContain('Ben started following you');

    [...element.querySelectorAll('button')].find((b) => b.textContent?.trim() === 'Mark read')!.click();
    const read = http.expectOne('/api/notifications/read');
    expect(read.request.body).toEqual({ ids: [1] });
    read.flush({ unread: 0 });
    await fixture.whenStable();
    expect(unreadCount()).toBe('0 unread');
    expect(element.querySelector('.notification.unread')).toBeNull();

    sockets[0].emit('notification', makeNotification({ id: 3, kind: 'comment' }));
    await fixture.whenStable();
    expect(unreadCount()).toBe('1 unread');
    expect(element.querySelector('li')?.textContent).toContain('Ben commented on your post');
  });
});

import { TestBed } from '@angular/core/testing';

import { makeNotification, makeUser } from '../../testing/fixtures';
import { setUpTestBed, signIn } from '../../testing/setup';
import { Inbox, describeNotification } from './inbox';

describe('Inbox', () => {
  function signedInInbox() {
    const setup = setUpTestBed();
    const inbox = TestBed.inject(Inbox);
    signIn(setup.http, makeUser());
    setup.http
      .expectOne('/api/notifications')
      .flush({ items: [makeNotification({ id: 1 })], unread: 1, next_cursor: 'c2' });
    return { ...setup, inbox };
  }

  it('loads the first page and the unread count after sign-in', () => {
    const { inbox } = signedInInbox();
    expect(inbox.items().map((item) => item.id)).toEqual([1]);
    expect(inbox.unread()).toBe(1);
    expect(inbox.hasMore()).toBe(true);
  });

  it('puts live notifications on top, counts them once, and announces them', () => {
    const { inbox, sockets } = signedInInbox();
    const live = makeNotification({ id: 2, kind: 'follow' });
    sockets[0].emit('notification', live);
    sockets[0].emit('notification', live);
    expect(inbox.items().map((item) => item.id)).toEqual([2, 1]);
    expect(inbox.unread()).toBe(2);
    expect(inbox.latest()?.id).toBe(2);
  });

  it('loads older pages with the cursor', () => {
    const { inbox, http } = signedInInbox();
    inbox.loadMore();
    http
      .expectOne('/api/notifications?cursor=c2')
      .flush({ items: [makeNotification({ id: 0 })], unread: 1, next_cursor: null });
    expect(inbox.items().map((item) => item.id)).toEqual([1, 0]);
    expect(inbox.hasMore()).toBe(false);
  });

  it('marks some or all read and takes the count from the server', () => {
    const { inbox, http } = signedInInbox();
    inbox.markRead([1]);
    const some = http.expectOne('/api/notifications/read');
    expect(some.request.body).toEqual({ ids: [1] });
    some.flush({ unread: 0 });
    expect(inbox.items()[0].read).toBe(true);
    expect(inbox.unread()).toBe(0);

    inbox.markRead();
    const all = http.expectOne('/api/notifications/read');
    expect(all.request.body).toEqual({});
    all.flush({ unread: 0 });
  });

  it('shows the error when loading fails', () => {
    const { inbox, http } = signedInInbox();
    inbox.reload();
    http.expectOne('/api/notifications').flush({ msg: 'database is down' }, { status: 503, statusText: 'x' });
    expect(inbox.error()).toBe('database is down');
    expect(inbox.loading()).toBe(false);
  });
});

describe('describeNotification', () => {
  it('says who did what', () => {
    expect(describeNotification(makeNotification({ kind: 'mention' }))).toBe('Ben mentioned you in a post');
    expect(describeNotification(makeNotification({ kind: 'follow' }))).toBe('Ben started following you');
    expect(
      describeNotification(
        makeNotification({ kind: 'comment', actor: { id: 3, username: 'cy', display_name: '' } }),
      ),
    ).toBe('cy commented on your post');
  });
});

import { TestBed } from '@angular/core/testing';

import { makePost, makeUser } from '../../testing/fixtures';
import { setUpTestBed, signIn } from '../../testing/setup';
import { Post } from './api-types';
import { Live } from './live';
import { Session } from './session';

describe('Live', () => {
  it('connects only while someone is signed in', () => {
    const { http, sockets } = setUpTestBed();
    const live = TestBed.inject(Live);
    TestBed.tick();
    expect(sockets.length).toBe(0);
    expect(live.state()).toBe('offline');

    signIn(http, makeUser());
    expect(sockets.length).toBe(1);
    expect(live.state()).toBe('connecting');
    sockets[0].emit('connect');
    expect(live.state()).toBe('live');

    TestBed.inject(Session).logout().subscribe();
    http.expectOne('/api/auth/logout').flush({ msg: 'bye' });
    TestBed.tick();
    expect(sockets[0].disconnected).toBe(true);
    expect(live.state()).toBe('offline');
  });

  it('passes feed:new posts on', () => {
    const { http, sockets } = setUpTestBed();
    const live = TestBed.inject(Live);
    signIn(http, makeUser());
    const received: Post[] = [];
    live.posts.subscribe((post) => received.push(post));
    sockets[0].emit('feed:new', makePost({ id: 7 }));
    expect(received.map((post) => post.id)).toEqual([7]);
  });

  it('reports a reconnection, not the first connection', () => {
    const { http, sockets } = setUpTestBed();
    const live = TestBed.inject(Live);
    signIn(http, makeUser());
    let resumed = 0;
    live.resumed.subscribe(() => resumed++);
    sockets[0].emit('connect');
    expect(resumed).toBe(0);
    sockets[0].emit('disconnect');
    expect(live.state()).toBe('connecting');
    sockets[0].emit('connect');
    expect(resumed).toBe(1);
  });
});

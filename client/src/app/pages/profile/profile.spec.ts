import { TestBed } from '@angular/core/testing';

import { makePost, makeUser } from '../../../testing/fixtures';
import { setUpTestBed, signIn } from '../../../testing/setup';
import { Profile } from './profile';

describe('Profile', () => {
  async function showProfileOf(username: string) {
    const setup = setUpTestBed();
    signIn(setup.http, makeUser({ id: 1, username: 'ana' }));
    const fixture = TestBed.createComponent(Profile);
    fixture.componentRef.setInput('username', username);
    await fixture.whenStable();
    const element = fixture.nativeElement as HTMLElement;
    const button = (name: string) =>
      [...element.querySelectorAll('button')].find((b) => b.textContent?.trim() === name);
    return { ...setup, fixture, element, button };
  }

  it("shows someone else's profile and posts, and follows then unfollows", async () => {
    const { http, fixture, element, button } = await showProfileOf('ben');
    expect(element.textContent).toContain('Loading profile…');
    http.expectOne('/api/users/ben').flush({ user: makeUser({ id: 2, username: 'ben', display_name: 'Ben' }) });
    await fixture.whenStable();
    http.expectOne('/api/users/ben/posts').flush({ items: [makePost({ id: 4 })], next_cursor: null });
    await fixture.whenStable();
    expect(element.querySelector('h1')?.textContent).toBe('Ben');
    expect(element.querySelectorAll('app-post-card').length).toBe(1);

    button('Follow')!.click();
    http
      .expectOne((request) => request.method === 'POST' && request.url === '/api/users/ben/follow')
      .flush({ user: makeUser({ id: 2, username: 'ben', followers: 1, is_following: true }) });
    await fixture.whenStable();
    expect(element.querySelector('[data-testid=followers]')?.textContent).toBe('1');
    expect(button('Unfollow')?.getAttribute('aria-pressed')).toBe('true');

    button('Unfollow')!.click();
    http
      .expectOne((request) => request.method === 'DELETE' && request.url === '/api/users/ben/follow')
      .flush({ user: makeUser({ id: 2, username: 'ben', followers: 0, is_following: false }) });
    await fixture.whenStable();
    expect(button('Follow')).toBeDefined();
  });

  it('offers editing, not following, on your own profile', async () => {
    const { http, fixture, button, element } = await showProfileOf('ana');
    http.expectOne('/api/users/ana').flush({ user: makeUser({ id: 1, username: 'ana' }) });
    http.match('/api/users/ana/posts');
    await fixture.whenStable();
    expect(button('Follow')).toBeUndefined();
    button('Edit profile')!.click();
    await fixture.whenStable();
    const bio = element.querySelector<HTMLTextAreaElement>('#profile-bio')!;
    expect(element.querySelector('label[for=profile-bio]')?.textContent).toBe('Bio');
    bio.value = 'I like rain';
    bio.dispatchEvent(new Event('input'));
    button('Save')!.click();
    const patch = http.expectOne('/api/users/me');
    expect(patch.request.body).toEqual({ display_name: 'Ana', bio: 'I like rain' });
  });

  it('says when the user does not exist', async () => {
    const { http, fixture, element } = await showProfileOf('ghost');
    http.expectOne('/api/users/ghost').flush({ msg: 'no such user' }, { status: 404, statusText: 'x' });
    await fixture.whenStable();
    expect(element.querySelector('[role=alert]')?.textContent).toContain('no such user');
  });
});

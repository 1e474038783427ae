import { TestBed } from '@angular/core/testing';
import { Router } from '@angular/router';

import { makeUser } from '../../../testing/fixtures';
import { setUpTestBed } from '../../../testing/setup';
import { Signup } from './signup';

describe('Signup', () => {
  async function setUp() {
    const { http } = setUpTestBed();
    const navigate = vi.spyOn(TestBed.inject(Router), 'navigateByUrl').mockResolvedValue(true);
    const fixture = TestBed.createComponent(Signup);
    await fixture.whenStable();
    const element = fixture.nativeElement as HTMLElement;
    const fill = (id: string, value: string) => {
      const input = element.querySelector<HTMLInputElement>(`#${id}`)!;
      input.value = value;
      input.dispatchEvent(new Event('input'));
    };
    const submit = async () => {
      element.querySelector<HTMLButtonElement>('button[type=submit]')!.click();
      await fixture.whenStable();
    };
    return { http, fixture, element, fill, submit, navigate };
  }

  it('checks the same rules as the server before sending', async () => {
    const { http, element, fill, submit } = await setUp();
    fill('signup-username', 'a!');
    fill('signup-email', 'not-an-email');
    fill('signup-password', 'short');
    await submit();
    for (const id of ['signup-username', 'signup-email', 'signup-password']) {
      expect(element.querySelector(`#${id}`)?.getAttribute('aria-invalid')).toBe('true');
    }
    expect(element.querySelector('#signup-password-hint')?.className).toBe('error');
    http.verify();
  });

  it("shows the server's conflict message", async () => {
    const { http, fixture, element, fill, submit } = await setUp();
    fill('signup-username', 'ana');
    fill('signup-email', 'ana@example.test');
    fill('signup-password', 'long enough');
    await submit();
    http.expectOne('/api/auth/register').flush({ msg: 'username already taken' }, { status: 409, statusText: 'Conflict' });
    await fixture.whenStable();
    expect(element.querySelector('[role=alert]')?.textContent).toBe('username already taken');
  });

  it('signs the new user in and goes home', async () => {
    const { http, fill, submit, navigate } = await setUp();
    fill('signup-username', 'ana');
    fill('signup-email', 'ana@example.test');
    fill('signup-password', 'long enough');
    await submit();
    http.expectOne('/api/auth/register').flush({ user: makeUser() }, { status: 201, statusText: 'Created' });
    expect(navigate).toHaveBeenCalledWith('/');
  });
});

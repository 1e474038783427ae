import { HttpErrorResponse } from '@angular/common/http';

import { errorMessage } from './api-error';

describe('errorMessage', () => {
  it("uses the server's msg", () => {
    const error = new HttpErrorResponse({ status: 413, error: { msg: 'file is larger than 4 MB' } });
    expect(errorMessage(error)).toBe('file is larger than 4 MB');
  });

  it('falls back per status when a proxy answered with HTML', () => {
    const error = new HttpErrorResponse({ status: 413, error: '<html>413 Request Entity Too Large</html>' });
    expect(errorMessage(error)).toBe('That file is too large for the server.');
    expect(errorMessage(new HttpErrorResponse({ status: 0 }))).toContain('Cannot reach the server');
  });

  it('names an unexpected status', () => {
    expect(errorMessage(new HttpErrorResponse({ status: 418 }))).toBe(
      'The server answered 418; please try again.',
    );
  });

  it('passes other errors through', () => {
    expect(errorMessage(new Error('boom'))).toBe('boom');
    expect(errorMessage('??')).toBe('Something went wrong.');
  });
});

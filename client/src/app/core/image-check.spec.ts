import { MAX_IMAGE_BYTES, imageProblem } from './image-check';

describe('imageProblem', () => {
  it('accepts each image type the server stores, up to exactly 4 MB', () => {
    for (const type of ['image/png', 'image/jpeg', 'image/gif', 'image/webp']) {
      expect(imageProblem({ name: 'a', type, size: MAX_IMAGE_BYTES })).toBeNull();
    }
  });

  it('refuses a file one byte over 4 MB, naming the file and its size', () => {
    const problem = imageProblem({ name: 'big.png', type: 'image/png', size: MAX_IMAGE_BYTES + 1 });
    expect(problem).toBe('"big.png" is 4.0 MB; images may be at most 4 MB.');
  });

  it('refuses other types, saying which were allowed', () => {
    expect(imageProblem({ name: 'x.svg', type: 'image/svg+xml', size: 10 })).toBe(
      '"x.svg" is image/svg+xml; choose a PNG, JPEG, GIF or WebP image.',
    );
    expect(imageProblem({ name: 'blob', type: '', size: 10 })).toContain('an unknown type');
  });
});

/** The largest upload the server accepts; larger files are refused before they are sent. */
export const MAX_IMAGE_BYTES = 4 * 1024 * 1024;

export const ACCEPTED_IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const;

/** Returns why `file` cannot be uploaded as a post image, or null when it can. */
export function imageProblem(file: Pick<File, 'name' | 'type' | 'size'>): string | null {
  if (!(ACCEPTED_IMAGE_TYPES as readonly string[]).includes(file.type)) {
    const kind = file.type || 'an unknown type';
    return `"${file.name}" is ${kind}; choose a PNG, JPEG, GIF or WebP image.`;
  }
  if (file.size > MAX_IMAGE_BYTES) {
    const megabytes = (file.size / (1024 * 1024)).toFixed(1);
    return `"${file.name}" is ${megabytes} MB; images may be at most 4 MB.`;
  }
  return null;
}

// fs-ext ships no type declarations; this covers the one function weft uses.
declare module 'fs-ext' {
  const fsExt: {
    flock(
      fd: number,
      flags: 'sh' | 'ex' | 'shnb' | 'exnb' | 'un',
      callback: (err: NodeJS.ErrnoException | null) => void,
    ): void;
  };
  export = fsExt;
}

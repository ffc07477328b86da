/* A fake MariaDB client plugin, planted by the hostile site in upload/plug/evil.so. If a root process ever
 * loads it (an option file saying plugin-dir=<docroot>/upload/plug and default-auth=evil), dlopen runs this
 * constructor and /tmp/bxops-evil-loaded appears; the verifier asserts it never does.
 * Built without headers or libc (-nostdlib): open/close resolve from the loading process's libc. */
extern int open(const char *path, int flags, ...);
extern int close(int fd);

__attribute__((constructor)) static void bxops_evil_loaded(void)
{
    int fd = open("/tmp/bxops-evil-loaded", 0101 /* O_WRONLY | O_CREAT */, 0644);
    if (fd >= 0)
        close(fd);
}

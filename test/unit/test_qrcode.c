/*
 * test_qrcode.c
 *		Unit tests of the enrolment QR codes, without a server.  Each drawing
 *		is read back by a decoder that is not ours and must give the input
 *		back byte for byte: the PNG by zbarimg, the SVG by rsvg-convert then
 *		zbarimg, the terminal text by reading its half blocks back into
 *		modules, writing them as a PGM here, then zbarimg.  Prints TAP
 *		("ok N - ...") for scripts/test.sh to count.
 *
 * Decoding alone would forgive a few wrong modules (that is what error
 * correction is for), so the PNGs are also read back pixel by pixel, with a
 * small reader on zlib rather than libpng, and must show exactly the modules
 * of the code at the expected scale.
 *
 * Needs zbarimg (zbar-tools) and rsvg-convert (librsvg2-bin) on the PATH;
 * links with zlib.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <zlib.h>

#include "qrcode.h"

static int	n_tests = 0;
static int	n_failed = 0;
static char tmpdir[] = "/tmp/test_qrcode.XXXXXX";

static void
check(int ok, const char *what)
{
	n_tests++;
	if (!ok)
		n_failed++;
	printf("%s %d - %s\n", ok ? "ok" : "not ok", n_tests, what);
}

/* Write len bytes to tmpdir/name and put the full path in path. */
static bool
write_file(const char *name, const void *data, size_t len, char *path, size_t pathsize)
{
	FILE	   *f;
	bool		ok;

	snprintf(path, pathsize, "%s/%s", tmpdir, name);
	f = fopen(path, "wb");
	if (f == NULL)
		return false;
	ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

/* Run a shell command and collect its standard output; its exit status, or -1. */
static int
run(const char *cmd, unsigned char **out, size_t *out_len)
{
	FILE	   *p;
	size_t		cap = 4096;
	size_t		n;
	int			status;

	*out = malloc(cap);
	*out_len = 0;
	if (*out == NULL || (p = popen(cmd, "r")) == NULL)
		return -1;
	while ((n = fread(*out + *out_len, 1, cap - *out_len, p)) > 0)
	{
		*out_len += n;
		if (*out_len == cap)
		{
			unsigned char *more = realloc(*out, cap * 2);

			if (more == NULL)
				break;
			*out = more;
			cap *= 2;
		}
	}
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Scan the image file with zbarimg and compare what it read with want.
 *
 * -Sbinary makes zbar hand back the bytes of the 8-bit segment as they are,
 * instead of guessing a character set and converting to UTF-8, and then it
 * adds no newline either; only the QR decoder is on, so nothing else can be
 * "found" in the picture.
 */
static bool
zbar_reads(const char *path, const char *want, size_t want_len)
{
	char		cmd[1024];
	unsigned char *got;
	size_t		got_len;
	int			rc;
	bool		same;

	snprintf(cmd, sizeof(cmd),
			 "zbarimg --nodbus --raw -q -Sdisable -Sqrcode.enable -Sbinary '%s' 2>/dev/null", path);
	rc = run(cmd, &got, &got_len);
	same = rc == 0 && got_len == want_len && memcmp(got, want, want_len) == 0;
	if (!same)
		fprintf(stderr, "# zbarimg %s: exit %d, %zu bytes read, %zu expected\n",
				path, rc, got_len, want_len);
	free(got);
	return same;
}

/*
 * Bytes an 8-bit segment holds at error correction M, by version (ISO/IEC
 * 18004:2015 table 7), to prove the encoder picks the smallest version.
 */
static const int capacity_m[41] = {0,
	14, 26, 42, 62, 84, 106, 122, 152, 180, 213,
	251, 287, 331, 362, 412, 450, 504, 560, 624, 666,
	711, 779, 857, 911, 997, 1059, 1125, 1190, 1264, 1370,
	1452, 1538, 1628, 1722, 1809, 1911, 1989, 2099, 2213, 2331
};

/* The version of a code from its width, quiet zone included; 0 if none. */
static int
version_of(const ZtQrCode *qr)
{
	int			size = qr->width - 2 * ZT_QR_QUIET_ZONE;

	return (size >= 21 && size <= 177 && (size - 17) % 4 == 0) ? (size - 17) / 4 : 0;
}

/* Is the module at (x, y) of the symbol (quiet zone not counted) dark? */
static bool
module(const ZtQrCode *qr, int x, int y)
{
	return qr->dark[(size_t) (y + ZT_QR_QUIET_ZONE) * qr->width + x + ZT_QR_QUIET_ZONE] != 0;
}

/*
 * Are the three finder patterns, their light separators and the two timing
 * patterns where ISO/IEC 18004 puts them?  Catches a symbol copied shifted,
 * turned or mirrored left to right, which decoders might still read.
 */
static bool
function_patterns_right(const ZtQrCode *qr)
{
	int			size = qr->width - 2 * ZT_QR_QUIET_ZONE;
	const int	corners[3][2] = {{0, 0}, {size - 7, 0}, {0, size - 7}};

	for (int c = 0; c < 3; c++)
		for (int dy = -1; dy <= 7; dy++)
			for (int dx = -1; dx <= 7; dx++)
			{
				int			x = corners[c][0] + dx;
				int			y = corners[c][1] + dy;
				int			ring = abs(dx - 3) > abs(dy - 3) ? abs(dx - 3) : abs(dy - 3);

				/* rings from the centre: dark 3x3, light, dark, then the separator */
				if (x < 0 || y < 0 || x >= size || y >= size)
					continue;
				if (module(qr, x, y) != (ring <= 1 || ring == 3))
					return false;
			}
	for (int i = 8; i < size - 8; i++)
		if (module(qr, i, 6) != (i % 2 == 0) || module(qr, 6, i) != (i % 2 == 0))
			return false;
	return true;
}

/* Are the first and last ZT_QR_QUIET_ZONE rows and columns all light? */
static bool
quiet_zone_light(const ZtQrCode *qr)
{
	int			w = qr->width;

	for (int y = 0; y < w; y++)
		for (int x = 0; x < w; x++)
		{
			bool		edge = x < ZT_QR_QUIET_ZONE || y < ZT_QR_QUIET_ZONE ||
				x >= w - ZT_QR_QUIET_ZONE || y >= w - ZT_QR_QUIET_ZONE;

			if (edge && qr->dark[(size_t) y * w + x])
				return false;
		}
	return true;
}

/* Which halves of a text cell are inked: bit 1 upper, bit 2 lower; -1 if not a cell. */
static int
cell_ink(const char *s, size_t left, size_t *used)
{
	static const char *const cells[4] = {" ", "\u2580", "\u2584", "\u2588"};

	for (int i = 0; i < 4; i++)
	{
		size_t		n = strlen(cells[i]);

		if (left >= n && memcmp(s, cells[i], n) == 0)
		{
			*used = n;
			return i;
		}
	}
	return -1;
}

/*
 * Read a text drawing back into modules (malloc'd into *dark, *width per
 * side).  Checks its shape on the way: square, every line the same number of
 * cells and ended by '\n', and the half row past the last module row light.
 */
static bool
parse_text(const char *s, size_t len, bool invert, int *width, unsigned char **dark)
{
	size_t		pos = 0;
	int			cols = -1;
	int			lines = 0;
	unsigned char *m = calloc(4 * ZT_QR_MAX_WIDTH * ZT_QR_MAX_WIDTH, 1);

	*dark = NULL;
	if (m == NULL)
		return false;
	while (pos < len)
	{
		int			x = 0;

		while (pos < len && s[pos] != '\n')
		{
			size_t		used;
			int			ink = cell_ink(s + pos, len - pos, &used);

			if (ink < 0 || x >= 2 * ZT_QR_MAX_WIDTH || lines >= ZT_QR_MAX_WIDTH)
				goto bad;
			/* a module is dark when inked, or when not inked in invert mode */
			m[(size_t) (2 * lines) * (2 * ZT_QR_MAX_WIDTH) + x] = ((ink & 1) != 0) != invert;
			m[(size_t) (2 * lines + 1) * (2 * ZT_QR_MAX_WIDTH) + x] = ((ink & 2) != 0) != invert;
			pos += used;
			x++;
		}
		if (pos >= len || (cols >= 0 && x != cols))
			goto bad;
		cols = x;
		pos++;
		lines++;
	}
	if (cols <= 0 || 2 * lines != cols + 1)
		goto bad;
	for (int x = 0; x < cols; x++)
		if (m[(size_t) cols * (2 * ZT_QR_MAX_WIDTH) + x])
			goto bad;
	*dark = malloc((size_t) cols * cols);
	if (*dark == NULL)
		goto bad;
	for (int y = 0; y < cols; y++)
		memcpy(*dark + (size_t) y * cols, m + (size_t) y * (2 * ZT_QR_MAX_WIDTH), cols);
	*width = cols;
	free(m);
	return true;
bad:
	free(m);
	return false;
}

/* Write modules as a binary PGM, scale pixels per module: our own image writer. */
static bool
write_pgm(const char *name, int width, const unsigned char *dark, int scale,
		  char *path, size_t pathsize)
{
	int			side = width * scale;
	char		header[64];
	int			hlen = snprintf(header, sizeof(header), "P5\n%d %d\n255\n", side, side);
	size_t		size = (size_t) hlen + (size_t) side * side;
	unsigned char *img = malloc(size);
	bool		ok;

	if (img == NULL)
		return false;
	memcpy(img, header, hlen);
	for (int y = 0; y < side; y++)
		for (int x = 0; x < side; x++)
			img[hlen + (size_t) y * side + x] =
				dark[(size_t) (y / scale) * width + x / scale] ? 0 : 255;
	ok = write_file(name, img, size, path, pathsize);
	free(img);
	return ok;
}

/* Read a big-endian 32-bit number. */
static unsigned long
be32(const unsigned char *p)
{
	return ((unsigned long) p[0] << 24) | ((unsigned long) p[1] << 16) |
		((unsigned long) p[2] << 8) | p[3];
}

/* The Paeth predictor of PNG filter type 4. */
static int
paeth(int a, int b, int c)
{
	int			p = a + b - c;
	int			pa = abs(p - a);
	int			pb = abs(p - b);
	int			pc = abs(p - c);

	return pa <= pb && pa <= pc ? a : (pb <= pc ? b : c);
}

/*
 * Read a non-interlaced PNG (gray, gray+alpha, RGB or RGBA at 8 bits, or
 * gray at 1 bit) into one byte of gray a pixel, alpha laid over white;
 * malloc'd, or NULL for anything else.
 */
static unsigned char *
read_png_gray(const unsigned char *png, size_t len, int *width, int *height)
{
	static const int channels_of[7] = {1, 0, 3, 0, 2, 0, 4};
	unsigned char *idat = NULL;
	size_t		idat_len = 0;
	unsigned char *raw = NULL;
	unsigned char *gray = NULL;
	unsigned long w = 0;
	unsigned long h = 0;
	int			depth = 0;
	int			channels = 0;
	size_t		stride;
	size_t		bpp;
	uLongf		raw_len;
	size_t		pos = 8;

	if (len < 8 || memcmp(png, "\x89PNG\r\n\x1a\n", 8) != 0)
		return NULL;
	while (pos + 12 <= len)
	{
		unsigned long n = be32(png + pos);
		const unsigned char *type = png + pos + 4;
		const unsigned char *data = png + pos + 8;

		if (n > len - pos - 12)
			goto bad;
		if (memcmp(type, "IHDR", 4) == 0 && n == 13)
		{
			w = be32(data);
			h = be32(data + 4);
			depth = data[8];
			channels = data[9] < 7 ? channels_of[data[9]] : 0;
			if (w == 0 || h == 0 || w > 20000 || h > 20000 || channels == 0 ||
				data[12] != 0 || !(depth == 8 || (depth == 1 && channels == 1)))
				goto bad;
		}
		else if (memcmp(type, "IDAT", 4) == 0)
		{
			unsigned char *more = realloc(idat, idat_len + n);

			if (more == NULL)
				goto bad;
			idat = more;
			memcpy(idat + idat_len, data, n);
			idat_len += n;
		}
		else if (memcmp(type, "IEND", 4) == 0)
			break;
		pos += 12 + n;
	}
	if (channels == 0 || idat == NULL)
		goto bad;

	stride = (w * channels * depth + 7) / 8;
	bpp = depth == 8 ? (size_t) channels : 1;
	raw_len = (uLongf) (h * (stride + 1));
	raw = malloc(raw_len);
	gray = malloc(w * h);
	if (raw == NULL || gray == NULL ||
		uncompress(raw, &raw_len, idat, idat_len) != Z_OK || raw_len != h * (stride + 1))
		goto bad;

	/* undo the filters in place: each line is a filter byte, then the line */
	for (unsigned long y = 0; y < h; y++)
	{
		unsigned char *line = raw + y * (stride + 1) + 1;
		const unsigned char *up = y > 0 ? line - (stride + 1) : NULL;

		for (size_t i = 0; i < stride; i++)
		{
			int			a = i >= bpp ? line[i - bpp] : 0;
			int			b = up != NULL ? up[i] : 0;
			int			c = (up != NULL && i >= bpp) ? up[i - bpp] : 0;
			int			add;

			switch (line[-1])
			{
				case 0:
					add = 0;
					break;
				case 1:
					add = a;
					break;
				case 2:
					add = b;
					break;
				case 3:
					add = (a + b) / 2;
					break;
				case 4:
					add = paeth(a, b, c);
					break;
				default:
					goto bad;
			}
			line[i] = (unsigned char) (line[i] + add);
		}
		for (unsigned long x = 0; x < w; x++)
		{
			const unsigned char *px = line + x * channels;
			int			v;
			int			alpha = 255;

			if (depth == 1)
				v = (line[x / 8] >> (7 - x % 8)) & 1 ? 255 : 0;
			else if (channels <= 2)
				v = px[0];
			else
				v = (px[0] + px[1] + px[2]) / 3;
			if (depth == 8 && (channels == 2 || channels == 4))
				alpha = px[channels - 1];
			gray[y * w + x] = (unsigned char) ((v * alpha + 255 * (255 - alpha)) / 255);
		}
	}
	free(idat);
	free(raw);
	*width = (int) w;
	*height = (int) h;
	return gray;
bad:
	free(idat);
	free(raw);
	free(gray);
	return NULL;
}

/* Read the PNG file at path into gray pixels, as read_png_gray does. */
static unsigned char *
read_png_file(const char *path, int *width, int *height)
{
	FILE	   *f = fopen(path, "rb");
	unsigned char *data;
	unsigned char *gray = NULL;
	long		size;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
		(data = malloc((size_t) size)) == NULL)
	{
		fclose(f);
		return NULL;
	}
	if (fread(data, 1, (size_t) size, f) == (size_t) size)
		gray = read_png_gray(data, (size_t) size, width, height);
	fclose(f);
	free(data);
	return gray;
}

/*
 * Does every pixel show its module: black (below mid-gray) exactly where the
 * module under it is dark, at scale pixels a module?
 */
static bool
pixels_match(const unsigned char *gray, int width, int height, const ZtQrCode *qr, int scale)
{
	if (gray == NULL || width != qr->width * scale || height != width)
		return false;
	for (int y = 0; y < height; y++)
		for (int x = 0; x < width; x++)
		{
			bool		dark = qr->dark[(size_t) (y / scale) * qr->width + x / scale] != 0;

			if ((gray[(size_t) y * width + x] < 128) != dark)
			{
				fprintf(stderr, "# pixel (%d, %d) is %d, its module is %s\n",
						x, y, gray[(size_t) y * width + x], dark ? "dark" : "light");
				return false;
			}
		}
	return true;
}

/*
 * Encode input and prove every drawing decodes to it: the PNG, the SVG, and
 * both text drawings; plus the quiet zone and the shape of each output.
 */
static void
round_trip(const char *name, const char *input, size_t len)
{
	ZtQrCode	qr;
	ZtQrResult	r = zt_qr_encode(input, len, &qr);
	char		what[256];
	char		path[512];
	char		png_path[512];
	char		cmd[1200];
	unsigned char *png;
	char	   *svg;
	char	   *text;
	char	   *inverted;
	size_t		png_len = 0;
	size_t		svg_len = 0;
	size_t		text_len = 0;
	size_t		inverted_len = 0;
	int			w;

	snprintf(what, sizeof(what), "%s: encodes (%zu byte%s)", name, len, len == 1 ? "" : "s");
	check(r == ZT_QR_OK && qr.dark != NULL, what);
	if (r != ZT_QR_OK || qr.dark == NULL)
		return;
	w = qr.width;

	snprintf(what, sizeof(what), "%s: version %d (%d modules a side with the quiet zone), the smallest that holds it",
			 name, version_of(&qr), w);
	check(version_of(&qr) > 0 && capacity_m[version_of(&qr)] >= (int) len &&
		  capacity_m[version_of(&qr) - 1] < (int) len, what);
	snprintf(what, sizeof(what), "%s: finder and timing patterns in place", name);
	check(function_patterns_right(&qr), what);
	snprintf(what, sizeof(what), "%s: quiet zone of %d light modules on every side",
			 name, ZT_QR_QUIET_ZONE);
	check(quiet_zone_light(&qr), what);

	/* PNG, straight to zbarimg */
	png = zt_qr_png(&qr, ZT_QR_SCALE, &png_len);
	snprintf(what, sizeof(what), "%s: PNG is %d px a side, 1-bit gray", name, w * ZT_QR_SCALE);
	check(png != NULL && png_len > 33 && memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0 &&
		  memcmp(png + 12, "IHDR", 4) == 0 &&
		  be32(png + 16) == (unsigned long) w * ZT_QR_SCALE &&
		  be32(png + 20) == (unsigned long) w * ZT_QR_SCALE &&
		  png[24] == 1 && png[25] == 0, what);
	snprintf(what, sizeof(what), "%s: zbarimg reads the PNG back byte for byte", name);
	check(png != NULL && write_file("code.png", png, png_len, path, sizeof(path)) &&
		  zbar_reads(path, input, len), what);
	{
		int			pw = 0;
		int			ph = 0;
		unsigned char *gray = png != NULL ? read_png_gray(png, png_len, &pw, &ph) : NULL;

		snprintf(what, sizeof(what), "%s: every PNG pixel shows its module", name);
		check(pixels_match(gray, pw, ph, &qr, ZT_QR_SCALE), what);
		free(gray);
	}
	free(png);

	/* SVG, rendered by librsvg at its default size */
	svg = zt_qr_svg(&qr, &svg_len);
	snprintf(what, sizeof(what), "%s: SVG has the viewBox in modules, crisp edges, one path", name);
	snprintf(cmd, sizeof(cmd), "viewBox=\"0 0 %d %d\"", w, w);
	check(svg != NULL && strlen(svg) == svg_len && strncmp(svg, "<svg ", 5) == 0 &&
		  strstr(svg, cmd) != NULL && strstr(svg, "shape-rendering=\"crispEdges\"") != NULL &&
		  strstr(svg, "<path ") != NULL && strstr(strstr(svg, "<path ") + 1, "<path ") == NULL, what);
	snprintf(what, sizeof(what), "%s: rsvg-convert draws the SVG, zbarimg reads it back", name);
	snprintf(png_path, sizeof(png_path), "%s/svg.png", tmpdir);
	{
		unsigned char *out = NULL;
		size_t		out_len;
		bool		ok = svg != NULL && write_file("code.svg", svg, svg_len, path, sizeof(path));
		int			pw = 0;
		int			ph = 0;
		unsigned char *gray;

		snprintf(cmd, sizeof(cmd), "rsvg-convert -f png -o '%s' '%s'", png_path, path);
		ok = ok && run(cmd, &out, &out_len) == 0;
		free(out);
		check(ok && zbar_reads(png_path, input, len), what);
		gray = ok ? read_png_file(png_path, &pw, &ph) : NULL;
		snprintf(what, sizeof(what), "%s: every pixel librsvg draws shows its module", name);
		check(pixels_match(gray, pw, ph, &qr, ZT_QR_SCALE), what);
		free(gray);
	}
	free(svg);

	/* text: read back into modules, both ways round */
	text = zt_qr_text(&qr, false, &text_len);
	inverted = zt_qr_text(&qr, true, &inverted_len);
	{
		int			tw = 0;
		int			iw = 0;
		unsigned char *tdark = NULL;
		unsigned char *idark = NULL;
		bool		tok = text != NULL && strlen(text) == text_len &&
			parse_text(text, text_len, false, &tw, &tdark);
		bool		iok = inverted != NULL && strlen(inverted) == inverted_len &&
			parse_text(inverted, inverted_len, true, &iw, &idark);
		bool		complement = tok && iok;

		snprintf(what, sizeof(what), "%s: text draws every module, dark as blocks", name);
		check(tok && tw == w && memcmp(tdark, qr.dark, (size_t) w * w) == 0, what);
		snprintf(what, sizeof(what), "%s: inverted text draws every module, light as blocks", name);
		check(iok && iw == w && memcmp(idark, qr.dark, (size_t) w * w) == 0, what);

		/* invert swaps each cell for its complement, line breaks kept */
		for (size_t p = 0, q = 0; complement && p < text_len;)
		{
			size_t		pu = 1;
			size_t		qu = 1;
			int			a = text[p] == '\n' ? -2 : cell_ink(text + p, text_len - p, &pu);
			int			b = inverted[q] == '\n' ? -2 : cell_ink(inverted + q, inverted_len - q, &qu);

			complement = q < inverted_len && (a == -2 ? b == -2 : (a >= 0 && b == (3 - a)));
			p += pu;
			q += qu;
			if (p >= text_len)
				complement = complement && q == inverted_len;
		}
		snprintf(what, sizeof(what), "%s: invert flips every cell of the text", name);
		check(complement, what);

		snprintf(what, sizeof(what), "%s: zbarimg reads the text drawing back byte for byte", name);
		check(tok && write_pgm("text.pgm", tw, tdark, ZT_QR_SCALE, path, sizeof(path)) &&
			  zbar_reads(path, input, len), what);
		free(tdark);
		free(idark);
	}
	free(text);
	free(inverted);

	zt_qr_free(&qr);
	snprintf(what, sizeof(what), "%s: zt_qr_free empties the code, and may be called again", name);
	zt_qr_free(&qr);
	check(qr.dark == NULL && qr.width == 0, what);
}

int
main(void)
{
	static const char uri[] =
		"otpauth://totp/ZStack:alice?secret=JBSWY3DPEHPK3PXP&issuer=ZStack&algorithm=SHA1&digits=6&period=30";
	static const char percent[] =
		"otpauth://totp/ZStack%20%E4%B8%AD%E6%96%87:%C3%A9lodie?secret=JBSWY3DPEHPK3PXP"
		"&issuer=ZStack%20%E4%B8%AD%E6%96%87&algorithm=SHA1&digits=6&period=30";
	static const char raw_utf8[] =
		"otpauth://totp/ZStack \u4e2d\u6587:\u00e9lodie?secret=JBSWY3DPEHPK3PXP&issuer=ZStack \u4e2d\u6587";
	static const char with_nul[] =
		"otpauth://totp/ZStack:a\0b?secret=JBSWY3DPEHPK3PXP\0&issuer=ZStack";
	char		every_byte[256];
	size_t		big_len = 1024 * 1024;
	char	   *big = malloc(big_len);
	ZtQrCode	qr = {0};
	ZtQrResult	r;
	size_t		lo;
	size_t		hi;
	size_t		n;
	struct timespec t0;
	struct timespec t1;
	char		what[256];
	unsigned char *png;

	/* without the decoders nothing here proves anything: say so, loudly */
	if (system("command -v zbarimg >/dev/null && command -v rsvg-convert >/dev/null") != 0)
	{
		printf("Bail out! zbarimg and rsvg-convert are needed (apt-get install zbar-tools librsvg2-bin)\n");
		free(big);
		return 1;
	}
	if (big == NULL || mkdtemp(tmpdir) == NULL)
	{
		printf("Bail out! no memory or no temporary directory\n");
		free(big);
		return 1;
	}
	for (int i = 0; i < 256; i++)
		every_byte[i] = (char) i;
	/* an otpauth URI padded with a long issuer, long enough for any version */
	memcpy(big, uri, sizeof(uri) - 1);
	for (size_t i = sizeof(uri) - 1; i < big_len; i++)
		big[i] = (char) ('a' + i % 26);

	round_trip("typical otpauth URI", uri, sizeof(uri) - 1);
	round_trip("percent-encoded non-ASCII label and issuer", percent, sizeof(percent) - 1);
	round_trip("raw UTF-8 label and issuer", raw_utf8, sizeof(raw_utf8) - 1);
	round_trip("URI with NUL bytes", with_nul, sizeof(with_nul) - 1);
	round_trip("every byte value 0..255", every_byte, sizeof(every_byte));
	round_trip("one character", "A", 1);

	/* the longest input that fits at level M, by bisection on the encoder */
	lo = 1;
	hi = 8192;
	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo + 1) / 2;

		r = zt_qr_encode(big, mid, &qr);
		zt_qr_free(&qr);
		if (r == ZT_QR_OK)
			lo = mid;
		else
			hi = mid - 1;
	}
	printf("# longest input at error correction M: %zu bytes\n", lo);
	/* ISO/IEC 18004 table 7: version 40-M holds 2331 bytes in 8-bit mode */
	check(lo == (size_t) capacity_m[40], "the longest input at level M is 2331 bytes, as the standard says");
	{
		bool		ok = true;

		for (int v = 1; v <= 40 && ok; v++)
		{
			r = zt_qr_encode(big, (size_t) capacity_m[v], &qr);
			ok = r == ZT_QR_OK && version_of(&qr) == v;
			zt_qr_free(&qr);
			if (v < 40)
			{
				r = zt_qr_encode(big, (size_t) capacity_m[v] + 1, &qr);
				ok = ok && r == ZT_QR_OK && version_of(&qr) == v + 1;
				zt_qr_free(&qr);
			}
		}
		check(ok, "at each version's capacity the version is used, one byte more takes the next");
	}
	round_trip("longest input that fits", big, lo);
	r = zt_qr_encode(big, lo + 1, &qr);
	check(r == ZT_QR_TOO_LONG && qr.dark == NULL && qr.width == 0,
		  "one byte more is too long");

	/* errors */
	qr.width = 99;
	qr.dark = (unsigned char *) big;
	r = zt_qr_encode("", 0, &qr);
	check(r == ZT_QR_EMPTY && qr.dark == NULL && qr.width == 0, "empty input: empty result, nothing allocated");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = zt_qr_encode(big, big_len, &qr);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	snprintf(what, sizeof(what), "1 MB input is too long, told in %.3f ms",
			 (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	check(r == ZT_QR_TOO_LONG && qr.dark == NULL &&
		  (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6 < 100, what);

	/* the drawings refuse what they cannot draw */
	r = zt_qr_encode(uri, sizeof(uri) - 1, &qr);
	check(r == ZT_QR_OK && zt_qr_png(&qr, 0, &n) == NULL && n == 0 &&
		  zt_qr_png(&qr, ZT_QR_MAX_SCALE + 1, &n) == NULL,
		  "PNG scale 0 and ZT_QR_MAX_SCALE + 1 are refused");
	png = zt_qr_png(&qr, ZT_QR_MAX_SCALE, &n);
	check(png != NULL && n > 0, "PNG at ZT_QR_MAX_SCALE is drawn");
	free(png);
	zt_qr_free(&qr);
	check(zt_qr_svg(&qr, &n) == NULL && zt_qr_png(&qr, ZT_QR_SCALE, &n) == NULL &&
		  zt_qr_text(&qr, false, &n) == NULL && zt_qr_svg(NULL, &n) == NULL,
		  "a freed or missing code is not drawn");

	free(big);
	{
		char		cmd[128];
		unsigned char *out;
		size_t		out_len;

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		run(cmd, &out, &out_len);
		free(out);
	}
	printf("1..%d\n", n_tests);
	return n_failed > 0 ? 1 : 0;
}

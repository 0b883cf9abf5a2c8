"""s3pt_mm: S3PT self-supervised pre-training for autonomous driving, as an OpenMMLab plugin."""
import os.path as osp

from setuptools import find_packages, setup


def get_version():
    namespace = {}
    with open(osp.join(osp.dirname(__file__), 's3pt_mm', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def parse_requirements(fname):
    """Requirement lines of ``requirements/<fname>``, without comments."""
    with open(osp.join(osp.dirname(__file__), 'requirements', fname)) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


setup(
    name='s3pt_mm',
    version=get_version(),
    description='S3PT: scene semantics and structure guided clustering for self-supervised '
                'pre-training in autonomous driving (OpenMMLab plugin)',
    long_description=open(osp.join(osp.dirname(__file__), 'README.md')).read()
    if osp.exists(osp.join(osp.dirname(__file__), 'README.md')) else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'tests.*')),
    python_requires='>=3.10',
    install_requires=parse_requirements('runtime.txt'),
    extras_require={
        'tests': parse_requirements('tests.txt'),
        'openmmlab': parse_requirements('openmmlab.txt'),
    },
    license='Apache License 2.0',
    zip_safe=False,
)

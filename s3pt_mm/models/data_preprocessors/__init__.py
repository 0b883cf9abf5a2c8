from .deferred_views import DeferredViewsDataPreprocessor

__all__ = ['DeferredViewsDataPreprocessor']

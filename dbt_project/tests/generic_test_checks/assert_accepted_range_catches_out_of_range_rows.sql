-- accepted_range must return exactly the two out-of-range rows and let the bounds and nulls pass
with

cases as (

    select * from (values (-1), (0), (5), (10), (11), (null)) as cases (value)

),

failures as (

    {{ test_accepted_range(model='cases', column_name='value', min_value=0, max_value=10) }}

)

select 'accepted_range returned ' || count(*) || ' rows, expected 2' as problem
from failures
having count(*) != 2
